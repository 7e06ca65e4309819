"""The audit trail's read side: `GET /api/v1/audit/` and the ops/admin page that searches it.

Here, not in `kernel.audit`, because who may read it is a role check that lives with the User
model in `workers`, and `reports` is the read side that may import every app.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import render
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.views import APIView

from kernel.api import DateRangeQuery, Pagination, flatten_field_errors, parse_query
from kernel.audit.models import AuditAction, AuditEntry
from reports.selectors.audit import audit_entries

# Days one may search: far dates are typos, and their day bounds would leave Python's dates.
EARLIEST_DAY, LATEST_DAY = dt.date(2000, 1, 1), dt.date(2100, 12, 31)
PAGE_SIZE = 50


class IsOpsOrAdmin(BasePermission):
    message = "Only ops and admins may read the audit trail."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_ops)


class AuditQuery(DateRangeQuery):
    """`?actor=<user id>&action=<audit action>&from=YYYY-MM-DD&to=YYYY-MM-DD`, each optional."""

    actor = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    action = serializers.ChoiceField(choices=[a.value for a in AuditAction], required=False)

    def validate(self, attrs):
        outside = {name: [f"Must be between {EARLIEST_DAY} and {LATEST_DAY}."]
                   for name in ("from", "to") if name in attrs and not EARLIEST_DAY <= attrs[name] <= LATEST_DAY}
        if outside:
            raise serializers.ValidationError(outside)
        return super().validate(attrs)


class AuditEntryOutput(serializers.ModelSerializer):
    actor = serializers.IntegerField(source="actor_id", allow_null=True)

    class Meta:
        model = AuditEntry
        fields = ["id", "at", "actor", "actor_username", "action", "object_type", "object_id", "ip", "before",
                  "after"]


def _filters(query: dict) -> dict:
    return {"actor": query.get("actor"), "action": query.get("action", ""), "day_from": query.get("from"),
            "day_to": query.get("to")}


class AuditListView(APIView):
    """Append-only: GET is the only method (any other answers 405)."""

    permission_classes = [IsOpsOrAdmin]

    @extend_schema(parameters=[AuditQuery], responses=AuditEntryOutput(many=True))
    def get(self, request):
        query = parse_query(AuditQuery, request)
        paginator = Pagination()
        page = paginator.paginate_queryset(audit_entries(**_filters(query)), request, view=self)
        return paginator.get_paginated_response(AuditEntryOutput(page, many=True).data)


@login_required
def audit_page(request):
    """`/ops/audit/`: search the trail (the API's filters), newest first, times in the chosen
    timezone (`?tz=`, which the page's script sets to the browser's on the first visit)."""
    if not request.user.is_ops:
        raise PermissionDenied
    serializer = AuditQuery(data={k: v for k, v in request.GET.items() if v and k in ("actor", "action", "from", "to")})
    errors: dict = {}
    query: dict = {}
    if serializer.is_valid():
        query = serializer.validated_data
    else:
        errors = flatten_field_errors(serializer.errors)
    tz_name = request.GET.get("tz") or "UTC"
    if tz_name not in zoneinfo.available_timezones():
        errors["tz"] = ["Not a timezone name."]
        tz_name = "UTC"
    entries = audit_entries(**_filters(query)) if not errors else AuditEntry.objects.none()
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "reports/audit.html", {
        "page": page, "errors": errors, "tz": tz_name, "actions": [a.value for a in AuditAction],
        "timezones": sorted(zoneinfo.available_timezones()), "filters": request.GET,
        "query_without_page": _without_page(request.GET),
    })


def _without_page(params) -> str:
    params = params.copy()
    params.pop("page", None)
    return params.urlencode()
