"""URLs of the reports (`api_urlpatterns` under /api/v1/, `urlpatterns` for the dashboards)."""

from django.urls import path

from payouts import report_api

api_urlpatterns: list = [
    path("reports/operations/", report_api.OperationsReportView.as_view(), name="report-operations"),
    path("reports/payouts/", report_api.PayoutReportView.as_view(), name="report-payouts"),
]
urlpatterns: list = []
