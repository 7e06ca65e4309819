"""The portal shell: landing page and logout (signing in: kernel/accounts/pages.py)."""

from django.contrib.auth import views as auth_views
from django.shortcuts import render


def home(request):
    return render(request, "home.html")


class LogoutView(auth_views.LogoutView):
    pass
