"""Celery tasks of the payouts app: take ids, reload, call one service; safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from payouts.earnings import earnings_settle
from payouts.models import PayoutRun
from payouts.runs import payout_run_create, payout_run_execute, payout_runs_resume_queued, payouts_retry_stuck

# PostgreSQL restarted or our connection killed mid-run: run it again (it resumes where it stopped).
_DATABASE_GONE = (OperationalError, InterfaceError)


@shared_task(name="payouts.run_execute", acks_late=True, autoretry_for=_DATABASE_GONE, retry_backoff=1,
             retry_backoff_max=30, retry_jitter=True, max_retries=10)
def payout_run_execute_task(run_id: int) -> str:
    """Execute a payout run. Redelivered after a crash (acks_late), and retried with backoff when
    the database connection is lost: the run picks up where it stopped, resending open payouts
    with their own idempotency keys."""
    if not PayoutRun.objects.filter(pk=run_id).exists():
        return "missing"
    return payout_run_execute(run_id=run_id).status


@shared_task(name="payouts.scheduled_run", acks_late=True)
def payout_run_scheduled_task() -> int:
    """The weekly run (beat, `PAYOUTS["RUN_SCHEDULE"]`)."""
    run = payout_run_create(trigger="schedule")
    payout_run_execute(run_id=run.pk)
    return run.pk


@shared_task(name="payouts.settle_earnings", acks_late=True)
def settle_earnings_task() -> int:
    """Every minute (`PAYOUTS["SETTLE_EVERY"]`): pending → available where the hold has passed."""
    return earnings_settle()


@shared_task(name="payouts.retry_stuck_payouts", acks_late=True)
def retry_stuck_payouts_task() -> int:
    return payouts_retry_stuck()


@shared_task(name="payouts.resume_queued_runs", acks_late=True)
def resume_queued_runs_task() -> list[int]:
    """Every minute: execute runs left queued (their task was never sent: broker down at commit)."""
    return payout_runs_resume_queued()
