"""URLs of the reports (`api_urlpatterns` under /api/v1/, `urlpatterns` for the dashboards)."""

from django.urls import path

from reports import api, audit, pages

api_urlpatterns: list = [
    path("audit/", audit.AuditListView.as_view(), name="audit-list"),
    path("reports/operations/", api.OperationsReportView.as_view(), name="report-operations"),
    path("reports/payouts/", api.PayoutReportView.as_view(), name="report-payouts"),
    path("reports/payouts/breakdown/", api.PayoutBreakdownView.as_view(), name="report-payouts-breakdown"),
    path("reports/payouts/workers/<int:worker_id>/", api.WorkerStatementView.as_view(),
         name="report-worker-statement"),
    path("reports/earnings/", api.EarningsExportView.as_view(), name="report-earnings"),
    path("reports/annual-earnings/", api.AnnualEarningsView.as_view(), name="report-annual-earnings"),
    path("reports/exports/", api.ExportListView.as_view(), name="report-exports"),
    path("reports/exports/<str:export_id>/", api.ExportView.as_view(), name="report-export"),
    path("reports/exports/<str:export_id>/download/", api.ExportDownloadView.as_view(),
         name="report-export-download"),
    path("reports/reconciliation/", api.ReconciliationView.as_view(), name="report-reconciliation"),
]
urlpatterns: list = [
    path("finance/dashboard/", pages.finance_dashboard, name="finance-dashboard"),
    path("finance/dashboard/workers/<int:worker_id>/", pages.worker_statement,
         name="finance-worker-statement"),
    path("finance/dashboard/tickets/<int:ticket_id>/", pages.earning_ticket, name="finance-ticket"),
    path("ops/dashboard/", pages.ops_dashboard, name="ops-dashboard"),
    path("ops/audit/", audit.audit_page, name="ops-audit"),
    path("reports/vendor/plotly-<str:version>.min.js", pages.plotly_js, name="reports-plotly-js"),
]
