"""The portal shell: login and logout. (`/` is workers.pages.landing: where each person starts
depends on their role and worker status, which the kernel does not know.)"""

from django.contrib.auth import views as auth_views


class LoginView(auth_views.LoginView):
    template_name = "login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass
