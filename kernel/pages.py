"""The portal shell: landing page, login and logout."""

from django.contrib.auth import views as auth_views
from django.shortcuts import render


def home(request):
    return render(request, "home.html")


class LoginView(auth_views.LoginView):
    template_name = "login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass
