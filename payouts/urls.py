"""URLs of the payouts app: `api_urlpatterns` are mounted under /api/v1/, `urlpatterns` at the root."""

api_urlpatterns: list = []
urlpatterns: list = []
