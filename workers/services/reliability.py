"""Reliability: the score that grants priority access (docs/ARCHITECTURE.md, "Reliability")."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from workers.models import ClaimStatus, ShiftClaim, Worker, WorkerEvent

RELIABILITY_PRIOR = Decimal(2)


RELIABILITY_WEIGHTS = {"late_released": Decimal("0.5"), "no_show": Decimal(1), "missed_assignment": Decimal("0.25")}


def reliability_compute(*, completed: int, late_released: int, no_show: int, missed_assignment: int) -> Decimal:
    """100 × (completed + 2) / (completed + 2 + ½·late releases + no-shows + ¼·missed assignments)."""
    good = RELIABILITY_PRIOR + completed
    bad = (RELIABILITY_WEIGHTS["late_released"] * late_released + RELIABILITY_WEIGHTS["no_show"] * no_show
           + RELIABILITY_WEIGHTS["missed_assignment"] * missed_assignment)
    return (Decimal(100) * good / (good + bad)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def worker_reliability_refresh(*, worker_id: int) -> Decimal:
    """Recompute and store a worker's reliability over the last 90 days. Safe to repeat."""
    since = timezone.now() - settings.SHIFTLINE["RELIABILITY_WINDOW"]
    counts = ShiftClaim.objects.filter(worker_id=worker_id, starts_at__gte=since).aggregate(
        completed=Count("pk", filter=Q(status=ClaimStatus.COMPLETED)),
        late_released=Count("pk", filter=Q(status=ClaimStatus.LATE_RELEASED)),
        no_show=Count("pk", filter=Q(status=ClaimStatus.NO_SHOW)),
    )
    missed = WorkerEvent.objects.filter(worker_id=worker_id, kind="missed_assignment", created_at__gte=since).count()
    score = reliability_compute(missed_assignment=missed, **counts)
    Worker.objects.filter(pk=worker_id).exclude(reliability_score=score).update(reliability_score=score)
    return score
