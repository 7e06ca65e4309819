"""URLs of the reports (`api_urlpatterns` under /api/v1/, `urlpatterns` for the dashboards)."""

from django.urls import path

from payouts import report_api

api_urlpatterns: list = [
    path("reports/operations/", report_api.OperationsReportView.as_view(), name="report-operations"),
    path("reports/payouts/", report_api.PayoutReportView.as_view(), name="report-payouts"),
    path("reports/payouts/breakdown/", report_api.PayoutBreakdownView.as_view(), name="report-payouts-breakdown"),
    path("reports/payouts/workers/<int:worker_id>/", report_api.WorkerStatementView.as_view(),
         name="report-worker-statement"),
    path("reports/earnings/", report_api.EarningsExportView.as_view(), name="report-earnings"),
    path("reports/annual-earnings/", report_api.AnnualEarningsView.as_view(), name="report-annual-earnings"),
    path("reports/reconciliation/", report_api.ReconciliationView.as_view(), name="report-reconciliation"),
]
urlpatterns: list = []
