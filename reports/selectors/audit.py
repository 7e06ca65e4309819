"""The audit trail's search: newest first, by actor, action and UTC days."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from kernel.api import utc_day_bounds
from kernel.audit.models import AuditEntry


def audit_entries(*, actor: int | None = None, action: str = "", day_from: dt.date | None = None,
                  day_to: dt.date | None = None) -> QuerySet[AuditEntry]:
    """Entries matching every filter given, newest first (`at`, then id). Days are inclusive, UTC.
    One query per page: the actor's username is a column of the entry, so no join."""
    entries = AuditEntry.objects.order_by("-at", "-id")
    if actor is not None:
        entries = entries.filter(actor_id=actor)
    if action:
        entries = entries.filter(action=action)
    if day_from is not None:
        entries = entries.filter(at__gte=utc_day_bounds(day_from, day_from)[0])
    if day_to is not None:
        entries = entries.filter(at__lt=utc_day_bounds(day_to, day_to)[1])
    return entries
