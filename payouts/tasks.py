"""Celery tasks of the payouts app: take ids, reload, call one service; safe to run twice."""

from __future__ import annotations

from celery import shared_task

from payouts import services
from payouts.models import PayoutRun


@shared_task(name="payouts.run_execute", acks_late=True)
def payout_run_execute_task(run_id: int) -> str:
    """Execute a payout run. Redelivered after a crash (acks_late): the run picks up where it
    stopped, resending open payouts with their own idempotency keys."""
    if not PayoutRun.objects.filter(pk=run_id).exists():
        return "missing"
    return services.payout_run_execute(run_id=run_id).status


@shared_task(name="payouts.scheduled_run", acks_late=True)
def payout_run_scheduled_task() -> int:
    """The weekly run (beat, `PAYOUTS["RUN_SCHEDULE"]`)."""
    run = services.payout_run_create(trigger="schedule")
    services.payout_run_execute(run_id=run.pk)
    return run.pk


@shared_task(name="payouts.settle_earnings", acks_late=True)
def settle_earnings_task() -> int:
    """Hourly: pending → available where the hold has passed (set-based batches)."""
    return services.earnings_settle()


@shared_task(name="payouts.retry_stuck_payouts", acks_late=True)
def retry_stuck_payouts_task() -> int:
    return services.payouts_retry_stuck()


@shared_task(name="payouts.consume_resolved", acks_late=True)
def consume_resolved_task() -> int:
    """Every 10 s: post the case pay of resolved tickets in batches of 1,000 for up to 50 s (the
    per-event outbox relay does the same one by one; whichever comes first consumes an event).
    Under a backlog the next ticks overlap a running drain, so every worker process helps."""
    return services.earnings_post_resolved_backlog()
