"""URLs of the payouts app: `api_urlpatterns` are mounted under /api/v1/, `urlpatterns` at the root."""

from django.urls import path

from payouts import api, pages

api_urlpatterns: list = [
    path("payouts/", api.PayoutListView.as_view(), name="payout-list"),
    path("payouts/rate-card/", api.RateCardView.as_view(), name="rate-card"),
    path("payouts/rate-card/history/", api.RateCardHistoryView.as_view(), name="rate-card-history"),
    path("payouts/balance/", api.BalanceView.as_view(), name="payout-balance"),
    path("payouts/earnings/", api.EarningListView.as_view(), name="earning-list"),
    path("payouts/runs/", api.RunListView.as_view(), name="payout-run-list"),
    path("payouts/runs/<int:run_id>/", api.RunDetailView.as_view(), name="payout-run-detail"),
    path("payouts/stripe/webhook/", api.stripe_webhook, name="stripe-webhook"),
    path("workers/me/payout-account/", api.PayoutAccountView.as_view(), name="worker-payout-account"),
]
urlpatterns: list = [
    path("earnings/", pages.earnings, name="earnings"),
    path("earnings/statement/", pages.statement, name="earnings-statement"),
    path("earnings/payout-account/", pages.payout_account_connect, name="payout-account-connect"),
    path("earnings/payout-account/refresh/", pages.payout_account_refresh, name="payout-account-refresh"),
    path("finance/rate-card/", pages.finance_rate_card, name="finance-rate-card"),
    path("finance/payouts/", pages.finance_payouts, name="finance-payouts"),
]
