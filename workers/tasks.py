"""Celery beat jobs of the workers app. Each one finds the rows due now and calls one service per
row; every service re-checks under its locks, so running a job twice (or two beats) is harmless."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from workers.models import ClaimStatus, Shift, ShiftClaim, ShiftSeat, ShiftStatus, ShiftTemplate, Worker, WorkerStatus
from workers.services import claims, reliability, shifts

logger = logging.getLogger(__name__)
BATCH = 500


@shared_task(name="workers.mark_no_shows", acks_late=True)
def mark_no_shows() -> int:
    """Active claims not checked into 15 minutes after the start become no-shows."""
    due = timezone.now() - settings.SHIFTLINE["NO_SHOW_AFTER"]
    ids = list(ShiftClaim.objects.filter(status=ClaimStatus.ACTIVE, checked_in_at__isnull=True, starts_at__lte=due)
               .order_by("starts_at", "pk").values_list("pk", flat=True)[:BATCH])
    return sum(claims.claim_mark_no_show(claim_id=claim_id) for claim_id in ids)


@shared_task(name="workers.complete_ended_claims", acks_late=True)
def complete_ended_claims() -> int:
    """Claims whose shift has ended: checked in → completed (`worker.checked_out`); else no-show."""
    ids = list(ShiftClaim.objects.filter(status=ClaimStatus.ACTIVE, ends_at__lte=timezone.now())
               .order_by("ends_at", "pk").values_list("pk", flat=True)[:BATCH])
    return sum(claims.claim_complete_at_end(claim_id=claim_id) for claim_id in ids)


@shared_task(name="workers.surge_rates", acks_late=True)
def surge_rates() -> int:
    """Raise the multiplier of soon-starting shifts with free seats, one step per interval."""
    now = timezone.now()
    ids = list(Shift.objects.filter(
        Exists(ShiftSeat.objects.filter(shift=OuterRef("pk"), claim__isnull=True)),
        status=ShiftStatus.PUBLISHED, starts_at__gt=now, starts_at__lte=now + settings.SHIFTLINE["SURGE_WINDOW"],
        rate_multiplier__lt=F("max_rate_multiplier"),
    ).values_list("pk", flat=True)[:BATCH])
    return sum(shifts.shift_surge(shift_id=shift_id) is not None for shift_id in ids)


@shared_task(name="workers.refresh_reliability", acks_late=True)
def refresh_reliability() -> int:
    """Recompute every approved worker's reliability (missed assignments come from the tickets app)."""
    ids = Worker.objects.filter(status=WorkerStatus.APPROVED).values_list("pk", flat=True)
    for worker_id in ids.iterator():
        reliability.worker_reliability_refresh(worker_id=worker_id)
    return ids.count()


@shared_task(name="workers.generate_template_shifts", acks_late=True)
def generate_template_shifts() -> int:
    """Publish the coming weeks' shifts of every active weekly template (each slot once)."""
    ids = ShiftTemplate.objects.filter(active=True).values_list("pk", flat=True)
    return sum(len(shifts.shift_template_generate(template_id=template_id)) for template_id in ids)
