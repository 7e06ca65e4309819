"""URLs of the workers app: `api_urlpatterns` are mounted under /api/v1/, `urlpatterns` at the root."""

from django.urls import path

from workers import api, pages

api_urlpatterns: list = [
    path("auth/token/", api.AuthTokenView.as_view(), name="auth-token"),
    path("workers/applications/", api.WorkerApplicationView.as_view(), name="worker-apply"),
    path("workers/", api.WorkerListView.as_view(), name="worker-list"),
    path("workers/me/", api.WorkerMeView.as_view(), name="worker-me"),
    path("workers/me/export/", api.WorkerExportView.as_view(), name="worker-export"),
    path("workers/me/notices/", api.NoticesView.as_view(), name="worker-notices"),
    path("workers/me/assessment/", api.AssessmentView.as_view(), name="worker-assessment"),
    path("workers/<int:worker_id>/", api.WorkerDetailView.as_view(), name="worker-detail"),
    path("workers/<int:worker_id>/events/", api.WorkerEventsView.as_view(), name="worker-events"),
    *[
        path(f"workers/<int:worker_id>/{action}/", api.WorkerDecisionView.as_view(action=action),
             name=f"worker-{action}")
        for action in ("approve", "reject", "suspend")
    ],
    path("shift-templates/", api.ShiftTemplateListView.as_view(), name="shift-template-list"),
    path("shift-templates/<int:template_id>/deactivate/", api.ShiftTemplateDeactivateView.as_view(),
         name="shift-template-deactivate"),
    path("shifts/", api.ShiftListView.as_view(), name="shift-list"),
    path("shifts/mine/", api.MyClaimsView.as_view(), name="shift-mine"),
    path("shifts/<int:shift_id>/", api.ShiftDetailView.as_view(), name="shift-detail"),
    path("shifts/<int:shift_id>/cancel/", api.ShiftCancelView.as_view(), name="shift-cancel"),
    path("shifts/<int:shift_id>/waitlist/", api.ShiftWaitlistView.as_view(), name="shift-waitlist"),
    *[
        path(f"shifts/<int:shift_id>/{action}/", api.ShiftClaimActionView.as_view(action=action),
             name=f"shift-{action}")
        for action in ("claim", "release", "check-in", "check-out")
    ],
]
urlpatterns: list = [
    path("apply/", pages.apply, name="worker-apply-page"),
    path("apply/assessment/", pages.assessment, name="worker-assessment-page"),
    path("profile/", pages.profile, name="worker-profile-page"),
    path("shifts/", pages.shift_board, name="shift-board-page"),
    path("shifts/<int:shift_id>/<slug:action>/", pages.shift_action, name="shift-action-page"),
    path("my-shifts/", pages.my_shifts, name="my-shifts-page"),
    path("ops/vetting/", pages.ops_vetting, name="ops-vetting-page"),
    path("ops/vetting/<int:worker_id>/", pages.ops_vetting_decide, name="ops-vetting-decide"),
    path("ops/shifts/", pages.ops_shifts, name="ops-shifts-page"),
    path("ops/shifts/<int:shift_id>/edit/", pages.ops_shift_edit, name="ops-shift-edit"),
    path("ops/shifts/<int:shift_id>/cancel/", pages.ops_shift_cancel, name="ops-shift-cancel"),
]
