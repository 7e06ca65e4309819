"""URLs of the workers app: `api_urlpatterns` are mounted under /api/v1/, `urlpatterns` at the root."""

from django.urls import path

from workers import api

api_urlpatterns: list = [
    path("auth/token/", api.AuthTokenView.as_view(), name="auth-token"),
]
urlpatterns: list = []
