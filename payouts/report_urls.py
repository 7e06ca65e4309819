"""URLs of the reports (`api_urlpatterns` under /api/v1/, `urlpatterns` for the dashboards)."""

api_urlpatterns: list = []
urlpatterns: list = []
