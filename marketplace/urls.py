from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from kernel import pages
from kernel.api import json_not_found
from marketplace.health import healthz
from payouts import urls as payouts_urls
from reports import urls as reports_urls
from tickets import urls as tickets_urls
from workers import urls as workers_urls
from workers.api import MeView

api_v1 = [
    path("auth/me/", MeView.as_view(), name="auth-me"),
    *workers_urls.api_urlpatterns,
    *tickets_urls.api_urlpatterns,
    *payouts_urls.api_urlpatterns,
    *reports_urls.api_urlpatterns,
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file of its own (no inline script under our CSP).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include(api_v1)),
    # Any other path under /api/ answers the error shape in every mode (DEBUG's technical 404 too).
    re_path(r"^api/", json_not_found),
    path("admin/", admin.site.urls),
    path("", pages.home, name="home"),
    path("login/", pages.LoginView.as_view(), name="login"),
    path("logout/", pages.LogoutView.as_view(), name="logout"),
    *workers_urls.urlpatterns,
    *tickets_urls.urlpatterns,
    *payouts_urls.urlpatterns,
    *reports_urls.urlpatterns,
]

handler400 = "kernel.api.json_bad_request"
handler403 = "kernel.api.json_permission_denied"
handler404 = "kernel.api.json_not_found"
handler500 = "kernel.api.json_server_error"
