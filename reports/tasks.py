"""Celery tasks of the reports: the daily reconciliation with Stripe, and large CSV exports."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from reports.selectors import exports, reconciliation

logger = logging.getLogger(__name__)

# The daily run looks back this many days: late reversals of older transfers are caught too.
RECONCILIATION_LOOKBACK_DAYS = 30


@shared_task(name="reports.reconcile_daily", acks_late=True)
def reconcile_daily() -> dict:
    """Reconcile the last 30 days (today included) and keep the result for the finance dashboard.

    Read-only against the ledger and Stripe: safe to run twice; the later result replaces the earlier.
    """
    today = dt.datetime.now(dt.UTC).date()
    result = reconciliation.reconciliation_report(
        day_from=today - dt.timedelta(days=RECONCILIATION_LOOKBACK_DAYS - 1), day_to=today
    )
    reconciliation.reconciliation_store(result)
    if not result["ok"]:
        logger.warning("Reconciliation found %s mismatches: %s", len(result["mismatches"]), result["mismatch_counts"])
    return {"ok": result["ok"], "mismatches": len(result["mismatches"])}


# --- Large CSV exports: written by a worker, with progress, downloaded when done ------------------

EXPORT_KINDS = ("earnings",)
EXPORT_TTL = 24 * 3600  # seconds an export's state (and link) is kept


def export_dir() -> Path:
    path = settings.VAR_DIR / "report-exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def export_state(export_id: str) -> dict | None:
    return cache.get(f"reports:export:{export_id}")


def export_state_set(export_id: str, **changes) -> dict:
    state = {**(export_state(export_id) or {}), **changes}
    cache.set(f"reports:export:{export_id}", state, timeout=EXPORT_TTL)
    return state


@shared_task(name="reports.export_csv", acks_late=True)
def export_csv(export_id: str) -> None:
    """Write the export's CSV to a file, recording progress every few thousand rows.

    Safe to run twice: a finished export returns at once; a rerun rewrites the file from scratch
    (to a temporary name, renamed when complete, so a download never sees half a file).
    """
    state = export_state(export_id)
    if state is None or state.get("status") == "done":
        return
    day_from, day_to = dt.date.fromisoformat(state["from"]), dt.date.fromisoformat(state["to"])
    total = exports.earnings_export_count(day_from=day_from, day_to=day_to)
    export_state_set(export_id, status="running", rows_total=total, rows_done=0, progress=0)
    target = export_dir() / f"{export_id}.csv"
    partial = target.with_suffix(".partial")
    try:
        rows_done = 0
        with open(partial, "w", encoding="utf-8", newline="") as out:
            for chunk in exports.earnings_csv(day_from=day_from, day_to=day_to):
                out.write(chunk)
                rows_done += chunk.count("\n")
                if rows_done % 10_000 < chunk.count("\n"):
                    export_state_set(export_id, rows_done=max(rows_done - 1, 0),
                                     progress=min(99, int(100 * rows_done / max(total, 1))))
        partial.replace(target)
    except Exception as exc:
        export_state_set(export_id, status="failed", error=f"{type(exc).__name__}: {exc}"[:500])
        partial.unlink(missing_ok=True)
        raise
    export_state_set(export_id, status="done", rows_done=total, progress=100)
