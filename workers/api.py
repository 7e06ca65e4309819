"""HTTP interface of the workers app: parse, call one service or selector, render."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import partial

from django.core.paginator import EmptyPage, Page, PageNotAnInteger
from django.core.paginator import Paginator as DjangoPaginator
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel.api import Pagination, ScopedThrottle, parse_query
from workers import privacy, selectors
from workers.errors import NotFound
from workers.models import ClaimStatus, WorkerStatus
from workers.services import accounts, claims, shifts, validation, vetting

# --- Permissions -----------------------------------------------------------------------------


class IsOps(BasePermission):
    message = "Only operations staff can do this."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_ops)


class IsWorker(BasePermission):
    message = "Only workers can do this."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_worker)


def paginated(request, view, queryset, serializer_class, pagination_class=Pagination, **context):
    paginator = pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    data = serializer_class(page, many=True, context={"request": request, **context}).data
    return paginator.get_paginated_response(data)


class _RowsPaginator(DjangoPaginator):
    """Django's paginator over `fetch(offset=, limit=) -> (rows, total)`: one query a page."""

    def page(self, number):
        try:
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from None
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        rows, self.count = self.object_list(offset=(number - 1) * self.per_page, limit=self.per_page)
        if not rows and number > 1:
            raise EmptyPage(self.error_messages["no_results"])
        return Page(rows, number, self)


class RowsPagination(Pagination):
    """`Pagination` of rows a selector renders itself (the shift board's list)."""

    django_paginator_class = _RowsPaginator


# --- Serializers -----------------------------------------------------------------------------

def _when(value: dt.datetime | None) -> str | None:
    """A datetime as DRF's DateTimeField renders it (ISO 8601, UTC as "Z"; TIME_ZONE is UTC)."""
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _multiplier(value) -> str:
    """A multiplier as DRF's DecimalField(decimal_places=2) renders it."""
    return f"{value:.2f}"



class AuthTokenInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=1000, trim_whitespace=False)


class UserOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.CharField()


class WorkerOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    username = serializers.CharField(source="user.username")
    email = serializers.CharField(source="user.email")
    full_name = serializers.CharField()
    status = serializers.CharField()
    country = serializers.CharField()
    timezone = serializers.CharField()
    languages = serializers.SerializerMethodField()
    skills = serializers.SerializerMethodField()
    quality_score = serializers.FloatField()
    reliability_score = serializers.FloatField()
    priority_access = serializers.SerializerMethodField()
    concurrency_cap = serializers.IntegerField()
    payout_account_status = serializers.CharField()
    stripe_account_id = serializers.CharField()
    assessment_score = serializers.FloatField(allow_null=True)
    assessment_taken_at = serializers.DateTimeField(allow_null=True)
    applied_at = serializers.DateTimeField()
    status_changed_at = serializers.DateTimeField(allow_null=True)

    def get_languages(self, worker) -> list[str]:
        return worker.language_codes

    def get_skills(self, worker) -> list[str]:
        return worker.skill_codes

    def get_priority_access(self, worker) -> bool:
        return selectors.has_priority_access(worker)

    def to_representation(self, worker) -> dict:
        # The fields above, written out: DRF's per-field path (a deep copy of every field per
        # serializer) cost more than the rest of `GET /workers/me/`. `worker` comes from a selector
        # (`language_codes`, `skill_codes`); tests/workers/test_apply.py checks the keys.
        user = worker.user
        return {
            "id": worker.pk, "username": user.username, "email": user.email, "full_name": worker.full_name,
            "status": worker.status, "country": worker.country, "timezone": worker.timezone,
            "languages": worker.language_codes, "skills": worker.skill_codes,
            "quality_score": float(worker.quality_score), "reliability_score": float(worker.reliability_score),
            "priority_access": self.get_priority_access(worker), "concurrency_cap": worker.concurrency_cap,
            "payout_account_status": worker.payout_account_status, "stripe_account_id": worker.stripe_account_id,
            "assessment_score": None if worker.assessment_score is None else float(worker.assessment_score),
            "assessment_taken_at": _when(worker.assessment_taken_at), "applied_at": _when(worker.applied_at),
            "status_changed_at": _when(worker.status_changed_at),
        }


class ApplyInput(serializers.Serializer):
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150,
                                      error_messages={"invalid": "Use letters, digits and @ . + - _ only."})
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    email = serializers.CharField(max_length=254)
    full_name = serializers.CharField(max_length=200)
    country = serializers.CharField(max_length=2)
    timezone = serializers.CharField(max_length=64)
    languages = serializers.ListField(child=serializers.CharField(max_length=8), max_length=20)
    skills = serializers.ListField(child=serializers.CharField(max_length=40), max_length=50, required=False,
                                   default=list)


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class WorkerListQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=WorkerStatus.choices, required=False)


class WorkerEventOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    actor = serializers.IntegerField(source="actor_id", allow_null=True)
    actor_username = serializers.CharField(source="actor.username", default=None)
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    reason = serializers.CharField()
    # DRF's metaclass takes declared fields off the class: `Serializer.data` stays the property.
    data = serializers.JSONField()  # type: ignore[assignment]
    created_at = serializers.DateTimeField()


class ShiftOutput(serializers.Serializer):
    id = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    capacity = serializers.IntegerField()
    seats_taken = serializers.IntegerField()
    seats_left = serializers.SerializerMethodField()
    language = serializers.CharField()
    skills = serializers.SerializerMethodField()
    rate_multiplier = serializers.DecimalField(max_digits=4, decimal_places=2)
    max_rate_multiplier = serializers.DecimalField(max_digits=4, decimal_places=2)
    status = serializers.CharField()
    published_at = serializers.DateTimeField()
    opens_to_all_at = serializers.SerializerMethodField()
    rate_changes = serializers.SerializerMethodField()
    my_claim = serializers.SerializerMethodField()
    waitlisted = serializers.SerializerMethodField()

    def get_seats_left(self, shift) -> int:
        return max(shift.capacity - shift.seats_taken, 0)

    def get_skills(self, shift) -> list[str]:
        return shift.skill_codes

    def get_opens_to_all_at(self, shift) -> dt.datetime:
        return shifts.shift_opens_to_all_at(shift)

    def get_rate_changes(self, shift) -> list[dict]:
        return [{"at": change["at"], "rate_from": change["rate_from"], "rate_to": change["rate_to"]}
                for change in shift.rate_changes]

    def get_my_claim(self, shift) -> int | None:
        return getattr(shift, "my_claim", None)

    def get_waitlisted(self, shift) -> bool | None:
        return getattr(shift, "waitlisted", None)

    def to_representation(self, shift) -> dict:
        # The fields above, written out (DRF's per-field path cost more than the shift list's
        # queries). `shift` comes from a selector (`skill_codes`, `rate_changes`).
        return {
            "id": shift.pk, "starts_at": _when(shift.starts_at), "ends_at": _when(shift.ends_at),
            "capacity": shift.capacity, "seats_taken": shift.seats_taken, "seats_left": self.get_seats_left(shift),
            "language": shift.language, "skills": shift.skill_codes,
            "rate_multiplier": _multiplier(shift.rate_multiplier),
            "max_rate_multiplier": _multiplier(shift.max_rate_multiplier),
            "status": shift.status, "published_at": _when(shift.published_at),
            "opens_to_all_at": _when(self.get_opens_to_all_at(shift)), "rate_changes": self.get_rate_changes(shift),
            "my_claim": self.get_my_claim(shift), "waitlisted": self.get_waitlisted(shift),
        }


class ShiftInput(serializers.Serializer):
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    capacity = serializers.IntegerField()
    language = serializers.CharField(max_length=8)
    skills = serializers.ListField(child=serializers.CharField(max_length=40), max_length=50, required=False,
                                   default=list)
    rate_multiplier = serializers.DecimalField(max_digits=4, decimal_places=2, required=False, default=Decimal("1.00"))
    max_rate_multiplier = serializers.DecimalField(max_digits=4, decimal_places=2, required=False)


class ShiftUpdateInput(ShiftInput):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, partial=True, **kwargs)


class ClaimOutput(serializers.Serializer):
    id = serializers.IntegerField()
    shift = serializers.IntegerField(source="shift_id")
    worker = serializers.IntegerField(source="worker_id")
    status = serializers.CharField()
    rate_multiplier = serializers.DecimalField(max_digits=4, decimal_places=2)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    claimed_at = serializers.DateTimeField()
    checked_in_at = serializers.DateTimeField(allow_null=True)
    checked_out_at = serializers.DateTimeField(allow_null=True)
    released_at = serializers.DateTimeField(allow_null=True)
    late_release = serializers.SerializerMethodField()
    shift_detail = serializers.SerializerMethodField()

    def get_late_release(self, claim) -> bool:
        return claim.status == ClaimStatus.LATE_RELEASED

    def get_shift_detail(self, claim) -> dict:
        shift = claim.shift
        return {
            "id": shift.pk, "starts_at": _when(shift.starts_at),
            "ends_at": _when(shift.ends_at),
            "language": shift.language, "capacity": shift.capacity,
            # Read with the claims (`selectors.claims_of`), or with the shift by the claim functions.
            "seats_taken": (claim.__dict__["shift_seats_taken"] if "shift_seats_taken" in claim.__dict__
                            else shift.seats_taken),
            "rate_multiplier": _multiplier(shift.rate_multiplier), "status": shift.status,
        }

    def to_representation(self, claim) -> dict:
        # The fields above, written out: claim and release answer with this on the hottest endpoint,
        # and DRF's per-field path (a deep copy of every field per serializer) cost about 0.5 ms.
        # tests/workers/test_claims.py checks that the keys match the declared fields.
        return {
            "id": claim.pk, "shift": claim.shift_id, "worker": claim.worker_id, "status": claim.status,
            "rate_multiplier": _multiplier(claim.rate_multiplier),
            "starts_at": _when(claim.starts_at), "ends_at": _when(claim.ends_at), "claimed_at": _when(claim.claimed_at),
            "checked_in_at": _when(claim.checked_in_at), "checked_out_at": _when(claim.checked_out_at),
            "released_at": _when(claim.released_at), "late_release": self.get_late_release(claim),
            "shift_detail": self.get_shift_detail(claim),
        }




class WaitlistOutput(serializers.Serializer):
    id = serializers.IntegerField()
    shift = serializers.IntegerField(source="shift_id")
    worker = serializers.IntegerField(source="worker_id")
    status = serializers.CharField()
    position = serializers.SerializerMethodField()
    claim = serializers.IntegerField(source="claim_id", allow_null=True)
    created_at = serializers.DateTimeField()

    def get_position(self, entry) -> int | None:
        return selectors.waitlist_position(entry)


class NoticeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    message = serializers.CharField()
    shift = serializers.IntegerField(source="shift_id", allow_null=True)
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)


@extend_schema_field(OpenApiTypes.STR)
class FlexibleTimeField(serializers.Field):
    """An ISO 8601 datetime, or a date (its start, UTC). `.is_date` tells which was given."""

    default_error_messages = {"invalid": "Use an ISO 8601 date (YYYY-MM-DD) or date-time."}

    def to_internal_value(self, data):
        text = str(data).strip()
        try:
            day = parse_date(text) if len(text) == 10 else None
            if day is not None:
                return (dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC), True)
            value = parse_datetime(text)
        except ValueError:
            self.fail("invalid")
        if value is None:
            self.fail("invalid")
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return (value, False)

    def to_representation(self, value):
        return value


class ShiftListQuery(serializers.Serializer):
    language = serializers.CharField(max_length=8, required=False)
    available = serializers.BooleanField(required=False)

    def validate_language(self, value):
        if (error := validation.language_error(value)) is not None:
            raise serializers.ValidationError(error)
        return value.lower()

    def validate(self, attrs):
        start, start_is_date = attrs.pop("from", (None, False))
        end, end_is_date = attrs.pop("to", (None, False))
        if end is not None and end_is_date:
            try:
                end = end + dt.timedelta(days=1)  # a date `to` is inclusive
            except OverflowError:  # 9999-12-31: no upper bound at all
                end = None
        if start is not None and end is not None and end <= start:
            raise serializers.ValidationError({"to": ["Must be after `from`."]})
        attrs["starts_from"], attrs["starts_before"] = start, end
        return attrs


ShiftListQuery._declared_fields["from"] = FlexibleTimeField(required=False)
ShiftListQuery._declared_fields["to"] = FlexibleTimeField(required=False)


class MyClaimsQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=ClaimStatus.choices, required=False)
    current = serializers.BooleanField(required=False)


class AssessmentInput(serializers.Serializer):
    answers = serializers.DictField(child=serializers.IntegerField(min_value=0))


# --- Auth ------------------------------------------------------------------------------------


class AuthTokenView(APIView):
    """Exchange a username and password for an API token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "auth_token"

    @extend_schema(
        request=AuthTokenInput,
        responses=inline_serializer("AuthToken", {"token": serializers.CharField(), "user": UserOutput()}),
    )
    def post(self, request):
        data = AuthTokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        token, user = auth_token_issue(**data.validated_data)
        return Response({"token": token.key, "user": UserOutput(user).data})


auth_token_issue = accounts.auth_token_issue


# --- Workers ---------------------------------------------------------------------------------


def _worker_response(worker_id: int, user, status: int = 200) -> Response:
    worker = selectors.workers_visible_to(user).filter(pk=worker_id).first()
    return Response(WorkerOutput(worker).data, status=status)


class WorkerApplicationView(APIView):
    """Apply to work with Shiftline (anyone; rate limited per IP)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "worker_apply"

    @extend_schema(request=ApplyInput, responses={201: WorkerOutput})
    def post(self, request):
        data = ApplyInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        worker = accounts.worker_apply(timezone_name=values.pop("timezone"), **values)
        return Response(WorkerOutput(selectors.worker_of(worker.user)).data, status=201)


class WorkerListView(APIView):
    permission_classes = [IsOps]

    @extend_schema(parameters=[WorkerListQuery], responses=WorkerOutput(many=True))
    def get(self, request):
        query = parse_query(WorkerListQuery, request)
        return paginated(request, self, selectors.worker_list(user=request.user, status=query.get("status")),
                         WorkerOutput)


class WorkerDetailView(APIView):
    @extend_schema(responses=WorkerOutput)
    def get(self, request, worker_id: int):
        worker = selectors.workers_visible_to(request.user).filter(pk=worker_id).first()
        if worker is None:
            raise NotFound("No such worker.")
        return Response(WorkerOutput(worker).data)


class AccountDeleteInput(serializers.Serializer):
    password = serializers.CharField(trim_whitespace=False, max_length=4096)


class WorkerMeView(APIView):
    permission_classes = [IsWorker]

    @extend_schema(responses=WorkerOutput)
    def get(self, request):
        worker = selectors.worker_of(request.user)
        if worker is None:
            raise NotFound("You have no worker profile.")
        return Response(WorkerOutput(worker).data)

    @extend_schema(request=AccountDeleteInput, responses={204: None})
    def delete(self, request):
        """Delete the caller's account (workers.privacy.worker_delete): `{password}` → 204."""
        data = AccountDeleteInput(data=request.data)
        data.is_valid(raise_exception=True)
        privacy.worker_delete(user=request.user, password=data.validated_data["password"])
        return Response(status=204)


class WorkerExportView(APIView):
    """`GET /api/v1/workers/me/export/`: everything Shiftline holds about the caller, as JSON."""

    permission_classes = [IsWorker]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        worker = selectors.worker_of(request.user)
        if worker is None:
            raise NotFound("You have no worker profile.")
        return Response(privacy.worker_personal_data_export(worker=worker))


class WorkerDecisionView(APIView):
    """approve / reject / suspend, with a reason (required to reject or suspend)."""

    permission_classes = [IsOps]
    action: str = ""

    @extend_schema(request=ReasonInput, responses=WorkerOutput)
    def post(self, request, worker_id: int):
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        service = {"approve": vetting.worker_approve, "reject": vetting.worker_reject,
                   "suspend": vetting.worker_suspend}[self.action]
        service(worker_id=worker_id, actor=request.user, reason=data.validated_data["reason"])
        return _worker_response(worker_id, request.user)


class WorkerEventsView(APIView):
    permission_classes = [IsOps]

    @extend_schema(responses=WorkerEventOutput(many=True))
    def get(self, request, worker_id: int):
        if not selectors.workers_visible_to(request.user).filter(pk=worker_id).exists():
            raise NotFound("No such worker.")
        return paginated(request, self, selectors.worker_events(worker_id=worker_id), WorkerEventOutput)


class NoticesView(APIView):
    permission_classes = [IsWorker]

    @extend_schema(responses=NoticeOutput(many=True))
    def get(self, request):
        return paginated(request, self, selectors.notices_of(worker_id=request.user.pk), NoticeOutput)

    @extend_schema(request=None,
                   responses=inline_serializer("NoticesRead", {"marked_read": serializers.IntegerField()}))
    def post(self, request):
        return Response({"marked_read": claims.worker_notices_mark_read(worker_id=request.user.pk)})


class AssessmentView(APIView):
    """The applicant quiz: GET the questions, POST `{answers: {question_id: choice_index}}`."""

    permission_classes = [IsWorker]

    def _state(self, request) -> dict:
        worker = selectors.worker_of(request.user)
        if worker is None:
            raise NotFound("You have no worker profile.")
        state = selectors.assessment_state(worker=worker)
        last = state["last_attempt"]
        return {
            "questions": [{"id": q.pk, "prompt": q.prompt, "choices": q.choices} for q in state["questions"]],
            "last_attempt": None if last is None else {
                "score": float(last.score), "correct": last.correct, "total": last.total,
                "submitted_at": serializers.DateTimeField().to_representation(last.submitted_at)},
            "next_attempt_at": None if state["next_attempt_at"] is None
            else serializers.DateTimeField().to_representation(state["next_attempt_at"]),
            "can_take": state["can_take"],
        }

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return Response(self._state(request))

    @extend_schema(request=AssessmentInput, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        data = AssessmentInput(data=request.data)
        data.is_valid(raise_exception=True)
        attempt = vetting.assessment_submit(worker_id=request.user.pk, answers=data.validated_data["answers"])
        return Response({"id": attempt.pk, "score": float(attempt.score), "correct": attempt.correct,
                         "total": attempt.total,
                         "submitted_at": serializers.DateTimeField().to_representation(attempt.submitted_at)},
                        status=201)


# --- Shifts ----------------------------------------------------------------------------------


def _visible_shift(request, shift_id: int):
    shift = selectors.shifts_visible_to(user=request.user).filter(pk=shift_id).first()
    if shift is None:
        raise NotFound("No such shift.")
    return shift


class ShiftListView(APIView):
    def get_permissions(self):
        return [IsOps()] if self.request.method == "POST" else super().get_permissions()

    @extend_schema(
        parameters=[ShiftListQuery],
        responses=ShiftOutput(many=True),
    )
    def get(self, request):
        query = parse_query(ShiftListQuery, request)
        paginator = RowsPagination()
        page = paginator.paginate_queryset(partial(selectors.shift_page, user=request.user, **query),
                                           request, view=self)
        return paginator.get_paginated_response(page)

    @extend_schema(request=ShiftInput, responses={201: ShiftOutput})
    def post(self, request):
        data = ShiftInput(data=request.data)
        data.is_valid(raise_exception=True)
        shift = shifts.shift_create(actor=request.user, **data.validated_data)
        return Response(ShiftOutput(_visible_shift(request, shift.pk)).data, status=201)


class ShiftDetailView(APIView):
    def get_permissions(self):
        return [IsOps()] if self.request.method == "PATCH" else super().get_permissions()

    @extend_schema(responses=ShiftOutput)
    def get(self, request, shift_id: int):
        return Response(ShiftOutput(_visible_shift(request, shift_id)).data)

    @extend_schema(request=ShiftUpdateInput, responses=ShiftOutput)
    def patch(self, request, shift_id: int):
        data = ShiftUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        shifts.shift_update(shift_id=shift_id, actor=request.user, **data.validated_data)
        return Response(ShiftOutput(_visible_shift(request, shift_id)).data)


class ShiftCancelView(APIView):
    permission_classes = [IsOps]

    @extend_schema(request=ReasonInput, responses=ShiftOutput)
    def post(self, request, shift_id: int):
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        shifts.shift_cancel(shift_id=shift_id, actor=request.user, reason=data.validated_data["reason"])
        return Response(ShiftOutput(_visible_shift(request, shift_id)).data)


class ShiftClaimActionView(APIView):
    """claim (201), release, check-in, check-out (200): the caller's claim in its new state."""

    permission_classes = [IsWorker]
    action: str = ""

    @extend_schema(request=None, responses=ClaimOutput)
    def post(self, request, shift_id: int):
        service = {"claim": claims.shift_claim, "release": claims.shift_release,
                   "check-in": claims.shift_check_in, "check-out": claims.shift_check_out}[self.action]
        claim = service(worker_id=request.user.pk, shift_id=shift_id)
        return Response(ClaimOutput(claim).data, status=201 if self.action == "claim" else 200)


class ShiftWaitlistView(APIView):
    """POST: join a full shift's waitlist (201); DELETE: leave it (200)."""

    permission_classes = [IsWorker]

    @extend_schema(request=None, responses={201: WaitlistOutput})
    def post(self, request, shift_id: int):
        entry = claims.waitlist_join(worker_id=request.user.pk, shift_id=shift_id)
        return Response(WaitlistOutput(entry).data, status=201)

    @extend_schema(request=None, responses=WaitlistOutput)
    def delete(self, request, shift_id: int):
        entry = claims.waitlist_leave(worker_id=request.user.pk, shift_id=shift_id)
        return Response(WaitlistOutput(entry).data)


class MyClaimsView(APIView):
    """The caller's claims, soonest first: `?status=active&current=true`."""

    permission_classes = [IsWorker]

    @extend_schema(parameters=[MyClaimsQuery], responses=ClaimOutput(many=True))
    def get(self, request):
        query = parse_query(MyClaimsQuery, request)
        statuses = [query["status"]] if query.get("status") else None
        claims = selectors.claims_of(worker_id=request.user.pk, statuses=statuses, current=query.get("current", False))
        return paginated(request, self, claims, ClaimOutput)


# --- Weekly shift templates ------------------------------------------------------------------


class ShiftTemplateInput(serializers.Serializer):
    weekday = serializers.IntegerField(help_text="0 = Monday … 6 = Sunday")
    start_time = serializers.TimeField()
    timezone = serializers.CharField(max_length=64, default="UTC")
    duration_minutes = serializers.IntegerField(min_value=1, max_value=60 * 24 * 7)
    capacity = serializers.IntegerField()
    language = serializers.CharField(max_length=8)
    skills = serializers.ListField(child=serializers.CharField(max_length=40), max_length=50, required=False,
                                   default=list)
    rate_multiplier = serializers.DecimalField(max_digits=4, decimal_places=2, required=False, default=Decimal("1.00"))
    max_rate_multiplier = serializers.DecimalField(max_digits=4, decimal_places=2, required=False)
    weeks_ahead = serializers.IntegerField(required=False, default=2)


class ShiftTemplateOutput(serializers.Serializer):
    id = serializers.IntegerField()
    weekday = serializers.IntegerField()
    start_time = serializers.TimeField()
    timezone = serializers.CharField()
    duration_minutes = serializers.SerializerMethodField()
    capacity = serializers.IntegerField()
    language = serializers.CharField()
    skills = serializers.SerializerMethodField()
    rate_multiplier = serializers.DecimalField(max_digits=4, decimal_places=2)
    max_rate_multiplier = serializers.DecimalField(max_digits=4, decimal_places=2)
    weeks_ahead = serializers.IntegerField()
    active = serializers.BooleanField()
    shifts = serializers.SerializerMethodField()

    def get_duration_minutes(self, template) -> int:
        return int(template.duration.total_seconds() // 60)

    def get_skills(self, template) -> list[str]:
        return sorted(skill.code for skill in template.skills.all())

    def get_shifts(self, template) -> list[int]:
        return sorted(shift.pk for shift in template.shifts.all())


class ShiftTemplateListView(APIView):
    """Weekly recurring shifts (ops): GET the templates, POST one → 201 (its shifts are published)."""

    permission_classes = [IsOps]

    @extend_schema(responses=ShiftTemplateOutput(many=True))
    def get(self, request):
        return paginated(request, self, selectors.shift_templates(), ShiftTemplateOutput)

    @extend_schema(request=ShiftTemplateInput, responses={201: ShiftTemplateOutput})
    def post(self, request):
        data = ShiftTemplateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        minutes = values.pop("duration_minutes")
        template = shifts.shift_template_create(
            actor=request.user, timezone_name=values.pop("timezone"), duration=dt.timedelta(minutes=minutes),
            **values)
        return Response(ShiftTemplateOutput(selectors.shift_templates().get(pk=template.pk)).data, status=201)


class ShiftTemplateDeactivateView(APIView):
    permission_classes = [IsOps]

    @extend_schema(request=None, responses=ShiftTemplateOutput)
    def post(self, request, template_id: int):
        shifts.shift_template_deactivate(template_id=template_id, actor=request.user)
        return Response(ShiftTemplateOutput(selectors.shift_templates().get(pk=template_id)).data)


class MeView(APIView):
    """`GET /api/v1/auth/me/`: who the caller is, whichever way they signed in (token or session)."""

    @extend_schema(responses=UserOutput)
    def get(self, request):
        return Response(UserOutput(request.user).data)
