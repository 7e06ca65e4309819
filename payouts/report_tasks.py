"""Celery tasks of the reports: the daily reconciliation with Stripe, and large CSV exports.

Registered through `CELERY_IMPORTS` in settings (autodiscovery only finds `payouts.tasks`).
"""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task

from payouts import reports

logger = logging.getLogger(__name__)

# The daily run looks back this many days: late reversals of older transfers are caught too.
RECONCILIATION_LOOKBACK_DAYS = 30


@shared_task(name="reports.reconcile_daily", acks_late=True)
def reconcile_daily() -> dict:
    """Reconcile the last 30 days (today included) and keep the result for the finance dashboard.

    Read-only against the ledger and Stripe: safe to run twice; the later result replaces the earlier.
    """
    today = dt.datetime.now(dt.UTC).date()
    result = reports.reconciliation_report(
        day_from=today - dt.timedelta(days=RECONCILIATION_LOOKBACK_DAYS - 1), day_to=today
    )
    reports.reconciliation_store(result)
    if not result["ok"]:
        logger.warning("Reconciliation found %s mismatches: %s", len(result["mismatches"]), result["mismatch_counts"])
    return {"ok": result["ok"], "mismatches": len(result["mismatches"])}
