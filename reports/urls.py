"""URLs of the reports (`api_urlpatterns` under /api/v1/, `urlpatterns` for the dashboards)."""

from django.urls import path

from payouts import report_api, report_pages

api_urlpatterns: list = [
    path("reports/operations/", report_api.OperationsReportView.as_view(), name="report-operations"),
    path("reports/payouts/", report_api.PayoutReportView.as_view(), name="report-payouts"),
    path("reports/payouts/breakdown/", report_api.PayoutBreakdownView.as_view(), name="report-payouts-breakdown"),
    path("reports/payouts/workers/<int:worker_id>/", report_api.WorkerStatementView.as_view(),
         name="report-worker-statement"),
    path("reports/earnings/", report_api.EarningsExportView.as_view(), name="report-earnings"),
    path("reports/annual-earnings/", report_api.AnnualEarningsView.as_view(), name="report-annual-earnings"),
    path("reports/exports/", report_api.ExportListView.as_view(), name="report-exports"),
    path("reports/exports/<str:export_id>/", report_api.ExportView.as_view(), name="report-export"),
    path("reports/exports/<str:export_id>/download/", report_api.ExportDownloadView.as_view(),
         name="report-export-download"),
    path("reports/reconciliation/", report_api.ReconciliationView.as_view(), name="report-reconciliation"),
]
urlpatterns: list = [
    path("finance/dashboard/", report_pages.finance_dashboard, name="finance-dashboard"),
    path("finance/dashboard/workers/<int:worker_id>/", report_pages.worker_statement,
         name="finance-worker-statement"),
    path("finance/dashboard/tickets/<int:ticket_id>/", report_pages.earning_ticket, name="finance-ticket"),
    path("ops/dashboard/", report_pages.ops_dashboard, name="ops-dashboard"),
    path("reports/vendor/plotly-<str:version>.min.js", report_pages.plotly_js, name="reports-plotly-js"),
]
