"""URLs of accounts and security: `api_urlpatterns` under /api/v1/, `urlpatterns` at the root."""

from django.urls import path

from kernel.accounts import api, pages

api_urlpatterns: list = [
    path("auth/logout/", api.LogoutView.as_view(), name="auth-logout"),
    path("auth/2fa/setup/", api.TwoFactorSetupView.as_view(), name="auth-2fa-setup"),
    path("auth/2fa/confirm/", api.TwoFactorConfirmView.as_view(), name="auth-2fa-confirm"),
    path("auth/unlock/", api.UnlockView.as_view(), name="auth-unlock"),
    path("auth/locked/", api.LockedListView.as_view(), name="auth-locked"),
]
urlpatterns: list = [
    path("login/", pages.LoginView.as_view(), name="login"),
    path("account/2fa/", pages.two_factor, name="two-factor-page"),
    path("ops/locked-accounts/", pages.locked_accounts, name="locked-accounts-page"),
    path("ops/locked-accounts/unlock/", pages.locked_account_unlock, name="locked-account-unlock"),
]
