"""HTTP interface of the payouts app: parse, call one service or selector, render."""

from __future__ import annotations

import json
import logging

import stripe
from django.http import JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel.api import Pagination, error_body, parse_query
from kernel.errors import NotFound
from payouts import selectors, stripe_gateway
from payouts.errors import PayoutErrorCode
from payouts.models import EarningStatus, PayoutRun, PayoutStatus, RateCard
from payouts.rate_card import rate_card_current, rate_card_update
from payouts.runs import SkipReason, payout_run_start, payout_runs_stats
from payouts.stripe_connect import payout_account_onboarding_url, stripe_event_handle
from workers.models import Worker

logger = logging.getLogger(__name__)


# --- Permissions -----------------------------------------------------------------------------


class IsFinance(BasePermission):
    message = "Only finance staff can do this."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_finance)


class IsWorker(BasePermission):
    message = "Only workers can do this."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_worker)


class IsWorkerOrFinance(BasePermission):
    message = "Only workers and finance staff can do this."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and (user.is_worker or user.is_finance))


def _paginated(request, view, queryset, serializer_class):
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


def _worker_of(user) -> Worker:
    worker = Worker.objects.select_related("user").filter(pk=user.pk).first()
    if worker is None:
        raise NotFound("You have no worker profile.")
    return worker


# --- Serializers -----------------------------------------------------------------------------


class RateCardOutput(serializers.Serializer):
    version = serializers.IntegerField()
    currency = serializers.CharField()
    base_per_case = serializers.IntegerField()
    csat_bonus = serializers.IntegerField()
    hold_hours = serializers.IntegerField()
    minimum_payout = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    created_by = serializers.IntegerField(source="created_by_id", allow_null=True)


class RateCardInput(serializers.Serializer):
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", error_messages={"invalid": "A 3-letter ISO currency code."})
    base_per_case = serializers.IntegerField(min_value=0, max_value=1_000_000)
    csat_bonus = serializers.IntegerField(min_value=0, max_value=1_000_000)
    hold_hours = serializers.IntegerField(min_value=0, max_value=24 * 90)
    minimum_payout = serializers.IntegerField(min_value=1, max_value=100_000_000)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class BalanceOutput(serializers.Serializer):
    currency = serializers.CharField()
    pending = serializers.IntegerField()
    available = serializers.IntegerField()
    in_transit = serializers.IntegerField()
    paid = serializers.IntegerField()


class EarningOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    worker = serializers.IntegerField(source="worker_id")
    ticket = serializers.IntegerField(source="ticket_id")
    kind = serializers.CharField()
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    status = serializers.CharField()
    rate_card_version = serializers.IntegerField(source="rate_card.version")
    multiplier = serializers.DecimalField(max_digits=4, decimal_places=2)
    resolution_n = serializers.IntegerField()
    available_at = serializers.DateTimeField()
    payout = serializers.IntegerField(source="payout_id", allow_null=True)
    created_at = serializers.DateTimeField()


class EarningQuery(serializers.Serializer):
    worker = serializers.IntegerField(min_value=1, required=False)
    status = serializers.ChoiceField(choices=EarningStatus.values, required=False)
    ticket = serializers.IntegerField(min_value=1, required=False)


class PayoutOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    worker = serializers.IntegerField(source="worker_id")
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    status = serializers.CharField()
    stripe_transfer_id = serializers.CharField()
    run = serializers.IntegerField(source="run_id")
    attempts = serializers.IntegerField()
    failure_code = serializers.CharField()
    reversed_amount = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)


class PayoutQuery(serializers.Serializer):
    worker = serializers.IntegerField(min_value=1, required=False)
    run = serializers.IntegerField(min_value=1, required=False)
    status = serializers.ChoiceField(choices=PayoutStatus.values, required=False)


class SkippedWorkerOutput(serializers.Serializer):
    worker = serializers.IntegerField()
    worker_name = serializers.CharField()
    reason = serializers.ChoiceField(choices=[reason.value for reason in SkipReason])
    available = serializers.IntegerField()
    minimum = serializers.IntegerField()
    currency = serializers.CharField()


class RunOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    status = serializers.CharField()
    trigger = serializers.CharField()
    transfer_group = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    payouts_count = serializers.IntegerField()
    paid_count = serializers.IntegerField()
    failed_count = serializers.IntegerField()
    in_transit_count = serializers.IntegerField()
    pending_count = serializers.IntegerField()
    total = serializers.IntegerField()
    currency = serializers.CharField()
    skipped = SkippedWorkerOutput(many=True, help_text="Workers this run did not pay, and why.")


def runs_data(runs: list[PayoutRun]) -> list[dict]:
    """The runs with live counts (the stored ones are written when a run finishes): one query."""
    stats = payout_runs_stats([run.pk for run in runs])
    return [run_data(run, stats[run.pk]) for run in runs]


def run_data(run: PayoutRun, stats: dict) -> dict:
    stored = {name: getattr(run, name) for name in ("pk", "status", "trigger", "transfer_group", "created_at",
                                                    "started_at", "finished_at", "currency", "skipped")}
    return RunOutput({**stored, "payouts_count": stats["payouts_count"], "total": stats["total"],
                      "paid_count": stats["paid_count"], "failed_count": stats["failed_count"],
                      "in_transit_count": stats["in_transit_count"],
                      "pending_count": stats["open_count"] - stats["in_transit_count"]}).data


# --- Views -----------------------------------------------------------------------------------


class RateCardView(APIView):
    permission_classes = [IsFinance]

    @extend_schema(responses=RateCardOutput, summary="The current rate card")
    def get(self, request):
        return Response(RateCardOutput(rate_card_current()).data)

    @extend_schema(request=RateCardInput, responses=RateCardOutput,
                   summary="Replace the rate card (creates a new version, audited)")
    def put(self, request):
        data = RateCardInput(data=request.data)
        data.is_valid(raise_exception=True)
        card = rate_card_update(actor=request.user, **data.validated_data)
        return Response(RateCardOutput(card).data)


class RateCardHistoryView(APIView):
    permission_classes = [IsFinance]

    @extend_schema(responses=RateCardOutput(many=True), summary="Every rate card version, newest first")
    def get(self, request):
        return _paginated(request, self, RateCard.objects.order_by("-version"), RateCardOutput)


class BalanceView(APIView):
    permission_classes = [IsWorkerOrFinance]

    @extend_schema(responses=BalanceOutput, summary="The caller's balance by state (finance: ?worker=)")
    def get(self, request):
        if request.user.is_finance:
            query = parse_query(EarningQuery, request)
            if "worker" not in query:
                return Response(error_body("invalid", "Give ?worker=.", {"worker": ["This field is required."]}),
                                status=400)
            worker = Worker.objects.filter(pk=query["worker"]).first()
            if worker is None:
                raise NotFound("No such worker.")
        else:
            worker = _worker_of(request.user)
        return Response(BalanceOutput(selectors.balance_for_worker(worker)).data)


class EarningListView(APIView):
    permission_classes = [IsWorkerOrFinance]

    @extend_schema(parameters=[EarningQuery], responses=EarningOutput(many=True),
                   summary="Earnings: a worker's own; finance all, ?worker=")
    def get(self, request):
        query = parse_query(EarningQuery, request)
        qs = selectors.earnings_visible_to(request.user)
        for name in ("worker", "status", "ticket"):
            if name in query:
                qs = qs.filter(**{f"{name}_id" if name in ("worker", "ticket") else name: query[name]})
        return _paginated(request, self, qs, EarningOutput)


class PayoutListView(APIView):
    permission_classes = [IsWorkerOrFinance]

    @extend_schema(parameters=[PayoutQuery], responses=PayoutOutput(many=True),
                   summary="Payouts: a worker's own; finance all, ?worker=&run=&status=")
    def get(self, request):
        query = parse_query(PayoutQuery, request)
        qs = selectors.payouts_visible_to(request.user)
        if "worker" in query:
            qs = qs.filter(worker_id=query["worker"])
        if "run" in query:
            qs = qs.filter(run_id=query["run"])
        if "status" in query:
            qs = qs.filter(status=query["status"])
        return _paginated(request, self, qs, PayoutOutput)


class RunListView(APIView):
    permission_classes = [IsFinance]

    @extend_schema(request=None, responses={202: inline_serializer("RunStarted", {
        "id": serializers.IntegerField(), "status": serializers.CharField()})},
        summary="Start a payout run now (runs in Celery)")
    def post(self, request):
        run = payout_run_start(actor=request.user, trigger="manual")
        run.refresh_from_db(fields=["status"])
        return Response({"id": run.pk, "status": run.status}, status=202)

    @extend_schema(responses=RunOutput(many=True), summary="Payout runs, newest first")
    def get(self, request):
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.payout_runs(), request, view=self)
        return paginator.get_paginated_response(runs_data(list(page)))


class RunDetailView(APIView):
    permission_classes = [IsFinance]

    @extend_schema(responses=RunOutput, summary="One payout run, with live progress")
    def get(self, request, run_id: int):
        run = selectors.payout_runs().filter(pk=run_id).first()
        if run is None:
            raise NotFound("No such payout run.")
        return Response(runs_data([run])[0])


class PayoutAccountView(APIView):
    permission_classes = [IsWorker]

    @extend_schema(request=None, responses=inline_serializer("OnboardingLink", {
        "onboarding_url": serializers.URLField()}), summary="Start or resume Stripe Connect onboarding")
    def post(self, request):
        worker = _worker_of(request.user)
        url = payout_account_onboarding_url(
            worker=worker,
            refresh_url=request.build_absolute_uri(reverse("payout-account-refresh")),
            return_url=request.build_absolute_uri(reverse("earnings") + "?onboarding=returned"),
        )
        return Response({"onboarding_url": url})


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Verify the signature on the raw body, then handle the event once per event id."""
    payload = request.body
    try:
        stripe_gateway.webhook_verify(payload=payload, header=request.headers.get("Stripe-Signature", ""))
        event = json.loads(payload)
    except (ValueError, stripe.SignatureVerificationError):
        return JsonResponse(error_body(PayoutErrorCode.INVALID_SIGNATURE, "The Stripe signature did not verify."),
                            status=400)
    if not isinstance(event, dict) or not event.get("id"):
        return JsonResponse(error_body("invalid", "Not a Stripe event."), status=400)
    record = stripe_event_handle(event=event)
    return JsonResponse({"received": True, "event": record.event_id, "result": record.result})
