"""URLs of the tickets app: `api_urlpatterns` are mounted under /api/v1/, `urlpatterns` at the root."""

from django.urls import path

from tickets import api, canned_pages, pages

api_urlpatterns: list = [
    path("tickets/", api.TicketListCreateView.as_view(), name="ticket-list"),
    path("tickets/live-board/", api.LiveBoardView.as_view(), name="ticket-live-board"),
    path("tickets/canned-responses/", api.CannedResponsesView.as_view(), name="ticket-canned-responses"),
    path("tickets/<int:pk>/", api.TicketDetailView.as_view(), name="ticket-detail"),
    path("tickets/<int:pk>/messages/", api.TicketMessagesView.as_view(), name="ticket-messages"),
    path("tickets/<int:pk>/resolve/", api.TicketResolveView.as_view(), name="ticket-resolve"),
    path("tickets/<int:pk>/transfer/", api.TicketTransferView.as_view(), name="ticket-transfer"),
    path("tickets/<int:pk>/rating/", api.TicketRatingView.as_view(), name="ticket-rating"),
    path("tickets/<int:pk>/reopen/", api.TicketReopenView.as_view(), name="ticket-reopen"),
    path("tickets/<int:pk>/history/", api.TicketHistoryView.as_view(), name="ticket-history"),
    path("tickets/<int:pk>/transfer-targets/", api.TransferTargetsView.as_view(), name="ticket-transfer-targets"),
]
urlpatterns: list = [
    path("chat/", pages.chat, name="chat"),
    path("console/", pages.console, name="console"),
    path("ops/live/", pages.ops_live, name="ops-live"),
    path("ops/canned-responses/", canned_pages.ops_canned_responses, name="ops-canned-responses"),
    path("ops/canned-responses/<int:response_id>/edit/", canned_pages.ops_canned_response_edit,
         name="ops-canned-response-edit"),
    path("ops/canned-responses/<int:response_id>/delete/", canned_pages.ops_canned_response_delete,
         name="ops-canned-response-delete"),
]
