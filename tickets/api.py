"""HTTP interface of live chat: parse, call one service or selector, render.

Customers are not users: their endpoints accept `X-Ticket-Token`; workers and ops use their API
token or session. A ticket the caller may not see is 404.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel.api import Pagination, ScopedThrottle, paginated_list, parse_query
from tickets import selectors, services
from tickets.canned_responses import canned_render
from tickets.errors import NotAllowed, TicketNotFound
from tickets.events import ticket_as_json
from tickets.models import Message, Ticket, TicketStatus
from workers.models import User

TOKEN_HEADER = OpenApiParameter("X-Ticket-Token", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
                                description="The customer's ticket token (instead of staff authentication).")


def message_as_json(message: Message) -> dict:
    return {
        "id": message.id, "ticket": message.ticket_id, "seq": message.seq, "sender": message.sender,
        "body": message.body, "client_id": message.client_id, "sent_at": message.sent_at.isoformat(),
        "internal": message.internal,
    }


def ws_url_for(request, ticket: Ticket, token: str) -> str:
    scheme = "wss" if request.is_secure() else "ws"
    return f"{scheme}://{request.get_host()}/ws/tickets/{ticket.id}/?token={token}"


class WidgetCorsMixin:
    """Let sites in WIDGET_ALLOWED_ORIGINS call the customer endpoints from the embedded widget."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        origin = request.headers.get("Origin")
        if origin and origin in settings.WIDGET_ALLOWED_ORIGINS:
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Allow-Headers"] = "Content-Type, X-Ticket-Token"
            response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response["Access-Control-Max-Age"] = "600"
            response["Vary"] = "Origin"
        return response


class TicketAccessMixin(WidgetCorsMixin, APIView):
    """Finds the ticket for a staff user or a customer token; `self.customer` tells which."""

    permission_classes = [AllowAny]

    def access(self, request, pk: int) -> tuple[Ticket, User | None]:
        """(ticket, user) for staff, (ticket, None) for the customer."""
        token = request.headers.get("X-Ticket-Token")
        user = request.user if request.user and request.user.is_authenticated else None
        if not token and user is None:
            raise exceptions.NotAuthenticated()
        if token:
            ticket = selectors.ticket_for_token(ticket_id=pk, token=token)
            if ticket is not None:
                return ticket, None
        if user is not None:
            ticket = selectors.tickets_visible_to(user).filter(pk=pk).first()
            if ticket is not None:
                return ticket, user
        raise TicketNotFound()

    def customer_only(self, request, pk: int) -> Ticket:
        ticket, user = self.access(request, pk)
        if user is not None:
            raise NotAllowed("Only the customer can do this.")
        return ticket


# --- Inputs ----------------------------------------------------------------------------------


class TicketCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    email = serializers.EmailField(max_length=254)
    language = serializers.CharField(max_length=10)
    topic = serializers.CharField(max_length=40)
    message = serializers.CharField(trim_whitespace=False)  # the rules: services.ticket_create
    # A signed identity from the embedding site (tickets.identity); both or neither.
    customer_id = serializers.CharField(max_length=200, required=False, default="", trim_whitespace=False)
    customer_signature = serializers.CharField(max_length=128, required=False, default="")


class TicketListQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=TicketStatus.choices, required=False)
    email = serializers.EmailField(required=False)


class MessagesQuery(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, required=False, default=0)


class MessageInput(serializers.Serializer):
    """The request body, for the schema only: `services.message_post` holds the rules (one for the
    socket and this endpoint)."""

    body = serializers.CharField()
    client_id = serializers.CharField()
    internal = serializers.BooleanField(required=False, default=False)


class ResolveInput(serializers.Serializer):
    resolution = serializers.CharField(max_length=2000)
    category = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")


class TransferInput(serializers.Serializer):
    to_worker = serializers.IntegerField(allow_null=True, min_value=1)
    reason = serializers.CharField(max_length=1000)


class RatingInput(serializers.Serializer):
    score = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class TicketOutput(serializers.Serializer):
    """The ticket as `GET /api/v1/tickets/{id}/` shows it (documentation: views render `ticket_as_json`)."""

    id = serializers.IntegerField()
    status = serializers.CharField()
    language = serializers.CharField()
    topic = serializers.CharField()
    assigned_worker = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    first_response_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    rating = serializers.IntegerField(allow_null=True)

    class Meta:
        ref_name = "Ticket"


class MessageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    ticket = serializers.IntegerField()
    seq = serializers.IntegerField()
    sender = serializers.CharField()
    body = serializers.CharField()
    client_id = serializers.CharField()
    sent_at = serializers.DateTimeField()
    internal = serializers.BooleanField()

    class Meta:
        ref_name = "Message"


# --- Views -----------------------------------------------------------------------------------


class TicketListCreateView(WidgetCorsMixin, APIView):
    """`POST`: anyone opens a ticket (rate limited per IP). `GET`: tickets the caller may see."""

    throttle_scope = "ticket_create"

    def get_permissions(self):
        if self.request.method in ("POST", "OPTIONS"):
            return [AllowAny()]
        return [IsAuthenticated()]

    def get_throttles(self):
        if self.request.method == "POST":
            return [ScopedThrottle()]
        return super().get_throttles()

    @extend_schema(request=TicketCreateInput, responses={201: inline_serializer("TicketCreated", {
        "id": serializers.IntegerField(), "token": serializers.CharField(), "status": serializers.CharField(),
        "queue_position": serializers.IntegerField(), "ws_url": serializers.CharField()})})
    def post(self, request):
        data = TicketCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        ticket, token = services.ticket_create(**data.validated_data)
        return Response({
            "id": ticket.id, "token": token, "status": ticket.status,
            "queue_position": selectors.queue_position(ticket), "ws_url": ws_url_for(request, ticket, token),
            "ticket": ticket_as_json(ticket),
            "agents_online": ticket.status != TicketStatus.QUEUED or selectors.agents_online(
                language=ticket.language, topic=ticket.topic_id),
        }, status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="tickets_list", parameters=[TicketListQuery], responses=TicketOutput(many=True))
    def get(self, request):
        query = parse_query(TicketListQuery, request)
        tickets = selectors.tickets_visible_to(request.user).order_by("-created_at", "-id")
        if "status" in query:
            tickets = tickets.filter(status=query["status"])
        if "email" in query:
            tickets = tickets.filter(customer_email__iexact=query["email"])
        paginator = Pagination()
        page = paginator.paginate_queryset(tickets, request, view=self)
        return paginator.get_paginated_response([ticket_as_json(t) for t in page])


class TicketDetailView(TicketAccessMixin, APIView):
    @extend_schema(parameters=[TOKEN_HEADER], responses=TicketOutput)
    def get(self, request, pk: int):
        ticket, _ = self.access(request, pk)
        return Response(ticket_as_json(ticket, queue_position=selectors.queue_position(ticket)))


class TicketMessagesView(TicketAccessMixin, APIView):
    """Messages: `POST` is limited per ticket (customer) or per user by `services.message_post`
    itself, the same allowance its websockets draw on."""

    @extend_schema(parameters=[TOKEN_HEADER, MessagesQuery], responses=MessageOutput(many=True))
    def get(self, request, pk: int):
        ticket, user = self.access(request, pk)
        query = parse_query(MessagesQuery, request)
        messages = selectors.ticket_messages(ticket_id=ticket.id, after=query["after"],
                                             include_internal=user is not None)
        paginator = Pagination()
        page = paginator.paginate_queryset(messages, request, view=self)
        return paginator.get_paginated_response([message_as_json(m) for m in page or []])

    @extend_schema(parameters=[TOKEN_HEADER], request=MessageInput, responses={201: MessageOutput, 200: MessageOutput})
    def post(self, request, pk: int):
        ticket, user = self.access(request, pk)
        data = request.data if isinstance(request.data, dict) else {}
        message, created = services.message_post(ticket_id=ticket.id, user=user, body=data.get("body"),
                                                 client_id=data.get("client_id"),
                                                 internal=data.get("internal", False))
        return Response(message_as_json(message), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class TicketResolveView(TicketAccessMixin, APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=ResolveInput, responses=TicketOutput)
    def post(self, request, pk: int):
        ticket, user = self.access(request, pk)
        if user is None:
            raise NotAllowed()
        data = ResolveInput(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = services.ticket_resolve(ticket_id=ticket.id, user=user, **data.validated_data)
        return Response(ticket_as_json(ticket))


class TicketTransferView(TicketAccessMixin, APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=TransferInput, responses=TicketOutput)
    def post(self, request, pk: int):
        ticket, user = self.access(request, pk)
        if user is None:
            raise NotAllowed()
        data = TransferInput(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = services.ticket_transfer(ticket_id=ticket.id, user=user, to_worker_id=data.validated_data["to_worker"],
                                          reason=data.validated_data["reason"])
        return Response(ticket_as_json(ticket))


class TicketRatingView(TicketAccessMixin, APIView):
    @extend_schema(parameters=[TOKEN_HEADER], request=RatingInput, responses={201: TicketOutput})
    def post(self, request, pk: int):
        ticket = self.customer_only(request, pk)
        data = RatingInput(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = services.ticket_rate(ticket_id=ticket.id, **data.validated_data)
        body = ticket_as_json(ticket)
        assert ticket.rated_at is not None  # ticket_rate has just set it
        body.update({"score": ticket.rating, "comment": ticket.rating_comment, "rated_at": ticket.rated_at.isoformat()})
        return Response(body, status=status.HTTP_201_CREATED)


class TicketReopenView(TicketAccessMixin, APIView):
    @extend_schema(parameters=[TOKEN_HEADER], request=None, responses=TicketOutput)
    def post(self, request, pk: int):
        ticket = self.customer_only(request, pk)
        ticket = services.ticket_reopen(ticket_id=ticket.id)
        return Response(ticket_as_json(ticket, queue_position=selectors.queue_position(ticket)))


class TicketHistoryView(APIView):
    """The customer's earlier tickets, for the worker console: only those of the same verified
    customer (a signed identity from the embedding site), never of a typed email."""

    @extend_schema(responses=TicketOutput(many=True))
    def get(self, request, pk: int):
        ticket = selectors.tickets_visible_to(request.user).filter(pk=pk).first()
        if ticket is None:
            raise TicketNotFound()
        earlier = selectors.customer_earlier_tickets(ticket=ticket)[:20]
        return paginated_list(request, self, [ticket_as_json(t) | {"resolution": t.resolution} for t in earlier])


class TransferTargetsView(APIView):
    """Workers on shift and connected who could take this ticket now (the console's transfer list)."""

    @extend_schema(responses={200: {"type": "array", "items": {"type": "object"}}})
    def get(self, request, pk: int):
        ticket = selectors.tickets_visible_to(request.user).filter(pk=pk).first()
        if ticket is None:
            raise TicketNotFound()
        return paginated_list(request, self, selectors.transfer_targets(ticket=ticket))


class CannedResponsesQuery(serializers.Serializer):
    language = serializers.CharField(max_length=2, required=False, default="", allow_blank=True)
    ticket = serializers.IntegerField(min_value=1, required=False)


class CannedResponsesView(APIView):
    """The console's canned responses. Each has `body` as ops wrote it and `rendered`: the body
    with the caller's own names filled in and, with `?ticket=<id>` (a ticket the caller may see),
    the customer's name and the ticket number too (`tickets.canned_responses.canned_render`)."""

    @extend_schema(parameters=[CannedResponsesQuery], responses=inline_serializer("CannedResponse", {
        "id": serializers.IntegerField(), "title": serializers.CharField(), "body": serializers.CharField(),
        "rendered": serializers.CharField(), "language": serializers.CharField(),
        "topic": serializers.CharField(allow_null=True)}, many=True))
    def get(self, request):
        if not (request.user.is_ops or request.user.is_worker):
            raise NotAllowed()
        query = parse_query(CannedResponsesQuery, request)
        ticket = None
        if "ticket" in query:
            ticket = selectors.tickets_visible_to(request.user).filter(pk=query["ticket"]).first()
            if ticket is None:
                raise TicketNotFound()
        worker = getattr(request.user, "worker", None) if request.user.is_worker else None
        return paginated_list(request, self, [
            {"id": r.id, "title": r.title, "body": r.body,
             "rendered": canned_render(r.body, worker=worker, ticket=ticket),
             "language": r.language, "topic": r.topic_id}
            for r in selectors.canned_responses(language=query["language"])])


class LiveBoardView(APIView):
    """Ops live board: queue per language/topic, workers on shift, SLA breaches."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        if not request.user.is_ops:
            raise NotAllowed()
        return Response(selectors.live_board())
