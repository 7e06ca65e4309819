"""Payout runs: payouts created per worker (money to in_transit), their Stripe transfers sent
exactly once, and the answers recorded (paid, failed, retried).

A worker's money can be in one open payout only (row locks and a partial unique index), and a
transfer is only ever requested with the payout's own idempotency key, so any number of
retries, crashed workers or overlapping runs produce at most one transfer per payout.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast
from uuid import uuid4

import stripe
from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField, Count, Exists, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone

from kernel.audit.models import AuditAction
from kernel.audit.services import record as audit_record
from kernel.dispatch import task_send_on_commit
from kernel.transactions import retry_on_conflict
from payouts import stripe_gateway
from payouts.ledger import Posting, ledger_accounts_ensure, ledger_post, ledger_post_many
from payouts.models import (
    AccountKind,
    Earning,
    EarningStatus,
    JournalKind,
    LedgerAccount,
    Payout,
    PayoutEvent,
    PayoutRun,
    PayoutRunStatus,
    PayoutStatus,
)
from payouts.rate_card import rate_card_current
from workers.models import PayoutAccountStatus, Worker, WorkerStatus

logger = logging.getLogger(__name__)

OPEN_PAYOUT_STATUSES = (PayoutStatus.PENDING, PayoutStatus.IN_TRANSIT)


def _payouts_setting(name: str, default: Any) -> Any:
    return settings.PAYOUTS.get(name, default)



def payout_run_create(*, actor=None, trigger: str = "manual", at: datetime | None = None) -> PayoutRun:
    """A queued run with its own Stripe `transfer_group`. `at`: when it happened (the demo's past
    runs; else now), the same for every time the run and its payouts record."""
    with transaction.atomic():
        card = rate_card_current()
        run = PayoutRun.objects.create(trigger=trigger, started_by=actor, currency=card.currency,
                                       created_at=at or timezone.now())
        run.transfer_group = f"shiftline-run-{run.pk}"
        run.save(update_fields=["transfer_group"])
        return run


def payout_run_start(*, actor=None, trigger: str = "manual") -> PayoutRun:
    """Create a run and execute it in Celery once this transaction commits. If the broker is down
    then, the run stays queued and `payout_runs_resume_queued` (beat) executes it later."""
    from payouts.tasks import payout_run_execute_task

    with transaction.atomic():
        run = payout_run_create(actor=actor, trigger=trigger)
        audit_record(AuditAction.PAYOUT_RUN_START, actor=actor, target=run,
                     after={"status": run.status, "trigger": run.trigger})
        task_send_on_commit(payout_run_execute_task, run.pk)
    return run


def payout_runs_resume_queued(*, older_than: timedelta | None = None) -> list[int]:
    """Execute runs still queued `older_than` after they were created (their task was never
    sent: the broker was down at commit, or lost it). Each is claimed by a conditional update
    (queued → running), so two sweeps, or a sweep and the late task, start it once; executing it is
    safe to repeat anyway (one payout per worker, each transfer under its payout's idempotency key).
    Returns the ids executed."""
    if older_than is None:
        older_than = _payouts_setting("QUEUED_STALE_AFTER", timedelta(minutes=1))
    stale = timezone.now() - older_than
    run_ids = list(PayoutRun.objects.filter(status=PayoutRunStatus.QUEUED, created_at__lte=stale)
                   .order_by("pk").values_list("pk", flat=True)[:100])
    resumed = []
    for run_id in run_ids:
        claimed = PayoutRun.objects.filter(pk=run_id, status=PayoutRunStatus.QUEUED).update(
            status=PayoutRunStatus.RUNNING, started_at=timezone.now())
        if claimed:
            logger.warning("payout run %s was left queued; executing it now", run_id)
            payout_run_execute(run_id=run_id)
            resumed.append(run_id)
    return resumed


def payout_run_execute(*, run_id: int, at: datetime | None = None) -> PayoutRun:
    """Execute a run: create the payouts (money to in_transit), send their transfers, finish.

    Safe to repeat and to run concurrently with other runs or with itself (a redelivered task
    after a crash): payout creation locks each worker's accounts and there is at most one open
    payout per worker; every transfer is requested with the payout's own idempotency key.
    """
    with transaction.atomic():
        run = PayoutRun.objects.select_for_update().get(pk=run_id)
        if run.status in (PayoutRunStatus.COMPLETED, PayoutRunStatus.FAILED):
            return run
        if run.status == PayoutRunStatus.QUEUED:
            run.status = PayoutRunStatus.RUNNING
            run.started_at = at or timezone.now()
            run.save(update_fields=["status", "started_at"])
    try:
        payouts_create_for_run(run=run, at=at)
        payouts_send(payout_ids=list(Payout.objects.filter(run=run, status__in=OPEN_PAYOUT_STATUSES)
                                     .order_by("pk").values_list("pk", flat=True)), at=at)
    except Exception as exc:
        PayoutRun.objects.filter(pk=run.pk).update(error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    return payout_run_finalize(run_id=run.pk, at=at)


@retry_on_conflict
def payout_run_finalize(*, run_id: int, at: datetime | None = None) -> PayoutRun:
    """Recount a run from its payouts; completed once none is open. Safe to repeat."""
    with transaction.atomic():
        run = PayoutRun.objects.select_for_update().get(pk=run_id)
        stats = payout_run_stats(run)
        run.payouts_count, run.total = stats["payouts_count"], stats["total"]
        run.paid_count, run.failed_count = stats["paid_count"], stats["failed_count"]
        fields = ["payouts_count", "total", "paid_count", "failed_count"]
        if stats["open_count"] == 0 and run.status == PayoutRunStatus.RUNNING:
            run.status, run.finished_at = PayoutRunStatus.COMPLETED, at or timezone.now()
            fields += ["status", "finished_at"]
        run.save(update_fields=fields)
        return run


def payout_runs_stats(run_ids: list[int]) -> dict[int, dict]:
    """Each run's live payout counts and total, in one grouped query (runs without payouts: zeros)."""
    empty = {"payouts_count": 0, "total": 0, "paid_count": 0, "failed_count": 0, "open_count": 0,
             "in_transit_count": 0}
    stats = {run_id: dict(empty) for run_id in run_ids}
    rows = Payout.objects.filter(run_id__in=run_ids).values("run_id").order_by().annotate(
        payouts_count=Count("pk"), total=Sum("amount"),
        paid_count=Count("pk", filter=Q(status=PayoutStatus.PAID)),
        failed_count=Count("pk", filter=Q(status=PayoutStatus.FAILED)),
        open_count=Count("pk", filter=Q(status__in=OPEN_PAYOUT_STATUSES)),
        in_transit_count=Count("pk", filter=Q(status=PayoutStatus.IN_TRANSIT)),
    )
    for row in rows:
        values = cast(dict[str, Any], row)
        stats[values["run_id"]] = {name: values[name] or 0 for name in empty}
    return stats


def payout_run_stats(run: PayoutRun) -> dict:
    return payout_runs_stats([run.pk])[run.pk]


def payouts_create_for_run(*, run: PayoutRun, chunk_size: int = 250, at: datetime | None = None) -> int:
    """Create a payout for every worker whose available balance reaches the minimum and whose
    Stripe account is ready, moving that balance to in_transit. Works in chunks of workers, one
    transaction each, then records who was left out and why (`payout_run_record_skipped`).
    Returns the number of payouts created."""
    card = rate_card_current()
    minimum = max(card.minimum_payout, 1)
    worker_ids = list(
        LedgerAccount.objects.filter(kind=AccountKind.WORKER_AVAILABLE, currency=card.currency,
                                     balance__gte=minimum,
                                     worker__payout_account_status=PayoutAccountStatus.READY)
        .exclude(worker__stripe_account_id="").order_by("worker_id").values_list("worker_id", flat=True)
    )
    created = 0
    for start in range(0, len(worker_ids), chunk_size):
        created += _payouts_create_chunk(run=run, currency=card.currency, minimum=minimum,
                                         worker_ids=worker_ids[start:start + chunk_size], at=at)
    payout_run_record_skipped(run=run, currency=card.currency, minimum=minimum)
    return created


class SkipReason(StrEnum):
    """Why a payout run left a worker out, in the order they are checked."""

    NOTHING_AVAILABLE = "nothing_available"
    NO_READY_PAYOUT_ACCOUNT = "no_ready_payout_account"
    BELOW_MINIMUM = "below_minimum"
    PAYOUT_IN_PROGRESS = "payout_in_progress"


def payout_run_skip_reason(*, available: int, minimum: int, account_ready: bool) -> SkipReason:
    """The one reason shown for a worker a run did not pay (the first that applies)."""
    if available <= 0:
        return SkipReason.NOTHING_AVAILABLE
    if not account_ready:
        return SkipReason.NO_READY_PAYOUT_ACCOUNT
    if available < minimum:
        return SkipReason.BELOW_MINIMUM
    # Ready and above the minimum, yet not paid: another run holds their money in a payout
    # (`open_payout`), or it became available while this run was creating its payouts.
    return SkipReason.PAYOUT_IN_PROGRESS


def payout_run_record_skipped(*, run: PayoutRun, currency: str, minimum: int) -> list[dict]:
    """Store on the run every worker it did not pay and why: approved workers, and anyone else
    with money available, that have no payout in this run. One query for the candidates, one
    update; written again (the same way) when a redelivered run gets here a second time."""
    available = LedgerAccount.objects.filter(kind=AccountKind.WORKER_AVAILABLE, currency=currency,
                                             worker=OuterRef("pk")).values("balance")[:1]
    rows = (Worker.objects.annotate(available=Coalesce(Subquery(available), Value(0)))
            .filter(Q(status=WorkerStatus.APPROVED) | Q(available__gt=0))
            .exclude(Exists(Payout.objects.filter(worker=OuterRef("pk"), run=run)))
            .order_by("full_name", "pk")
            .values_list("pk", "full_name", "available", "payout_account_status", "stripe_account_id"))
    skipped = [
        {"worker": pk, "worker_name": name, "available": amount, "minimum": minimum, "currency": currency,
         "reason": payout_run_skip_reason(available=amount, minimum=minimum,
                                          account_ready=status == PayoutAccountStatus.READY and bool(account))
         .value}
        for pk, name, amount, status, account in rows
    ]
    PayoutRun.objects.filter(pk=run.pk).update(skipped=skipped)
    run.skipped = skipped
    return skipped


@retry_on_conflict
def _payouts_create_chunk(*, run: PayoutRun, currency: str, minimum: int, worker_ids: list[int],
                          at: datetime | None = None) -> int:
    with transaction.atomic():
        accounts = ledger_accounts_ensure(worker_ids=worker_ids, currency=currency)
        lock_ids = sorted(accounts[(kind, w)] for w in worker_ids
                          for kind in (AccountKind.WORKER_AVAILABLE, AccountKind.WORKER_IN_TRANSIT))
        balances = dict(LedgerAccount.objects.select_for_update().filter(pk__in=lock_ids).order_by("pk")
                        .values_list("pk", "balance"))
        ready = dict(Worker.objects.filter(pk__in=worker_ids, payout_account_status=PayoutAccountStatus.READY)
                     .exclude(stripe_account_id="").values_list("pk", "stripe_account_id"))
        busy = set(Payout.objects.filter(worker_id__in=worker_ids)
                   .filter(Q(status__in=OPEN_PAYOUT_STATUSES) | Q(run=run)).values_list("worker_id", flat=True))
        chosen = [(w, balances[accounts[(AccountKind.WORKER_AVAILABLE, w)]]) for w in worker_ids
                  if w in ready and w not in busy and balances[accounts[(AccountKind.WORKER_AVAILABLE, w)]] >= minimum]
        if not chosen:
            return 0
        payouts = Payout.objects.bulk_create([
            Payout(run=run, worker_id=w, amount=amount, currency=currency, status=PayoutStatus.PENDING,
                   destination=ready[w], idempotency_key=f"provisional-{uuid4()}", created_at=at or timezone.now())
            for w, amount in chosen
        ])
        ids = [p.pk for p in payouts]
        # The Stripe idempotency key is derived from the payout id.
        Payout.objects.filter(pk__in=ids).update(
            idempotency_key=Concat(Value("shiftline-payout-"), Cast("pk", CharField())))
        ledger_post_many([
            Posting(key=f"payout-start:{p.pk}", kind=JournalKind.PAYOUT_START, currency=currency,
                    lines=[(accounts[(AccountKind.WORKER_AVAILABLE, p.worker_id)], -p.amount),
                           (accounts[(AccountKind.WORKER_IN_TRANSIT, p.worker_id)], p.amount)],
                    memo=f"Payout {p.pk} (run {run.pk})", worker_id=p.worker_id, payout_id=p.pk,
                    refs={"run": run.pk})
            for p in payouts
        ])
        _earnings_attach_to_payouts(payouts)
        PayoutEvent.objects.bulk_create([PayoutEvent(payout=p, kind="created", data={"run": run.pk})
                                         for p in payouts])
        return len(payouts)


@dataclass
class _Send:
    """One transfer to request: a snapshot of the payout taken when it was marked in_transit."""

    payout_id: int
    worker_id: int
    run_id: int
    amount: int
    currency: str
    destination: str
    idempotency_key: str
    transfer_group: str
    transfer_id: str = ""
    error: stripe.StripeError | None = None


class _Pacer:
    """Spaces requests at least `1/rate` seconds apart across the sender threads (0: no pacing).

    Stripe answers 429 beyond its write rate limit; sending just under it keeps the retries (and
    payouts left to the retry sweep after `MAX_ATTEMPTS_PER_RUN`) for real trouble."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_at = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next_at)
            self.next_at = at + self.interval
        if at > now:
            time.sleep(at - now)


def _earnings_attach_to_payouts(payouts: list[Payout]) -> None:
    """Available earnings of each payout's worker → in_payout, pointing at the payout."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE payouts_earning AS e SET status = 'in_payout', payout_id = p.id FROM payouts_payout AS p "
            "WHERE p.id = ANY(%s) AND e.worker_id = p.worker_id AND e.currency = p.currency "
            "AND e.status = 'available'", [[p.pk for p in payouts]])


def payouts_send(*, payout_ids: list[int], at: datetime | None = None) -> dict[str, int]:
    """Send the transfers of these payouts, pipelined in chunks of `PAYOUTS["SEND_CHUNK"]`.

    For each chunk: one transaction marks its open payouts in_transit (attempts + 1); the
    requests go out from `SEND_CONCURRENCY` threads (HTTP only, no database) while the main
    thread records the previous chunk's answers in one transaction: accepted → paid, refused for
    good → failed (money back to available). Timeouts, 5xx and 429 go back in the queue with
    exponential backoff and jitter, always with the payout's own idempotency key; after
    `MAX_ATTEMPTS_PER_RUN` a payout stays in_transit for the retry sweep. Safe to run twice at
    once or after a crash: a payout another sender settled is skipped, and a repeated request is
    replayed by Stripe, never executed twice.
    """
    chunk = int(_payouts_setting("SEND_CHUNK", 100))
    max_attempts = int(_payouts_setting("MAX_ATTEMPTS_PER_RUN", 8))
    base = float(_payouts_setting("BACKOFF_BASE", 0.2))
    cap = float(_payouts_setting("BACKOFF_CAP", 5))
    concurrency = max(1, int(_payouts_setting("SEND_CONCURRENCY", 8)))
    pacer = _Pacer(float(_payouts_setting("SEND_RATE", 0)))
    outcomes: dict[str, int] = defaultdict(int)
    queue: list[tuple[float, int, int]] = [(0.0, 0, pk) for pk in payout_ids]  # (not before, tries, id)
    in_flight: tuple[list[_Send], list] | None = None
    tries: dict[int, int] = {}

    def record(batch: tuple[list[_Send], list]) -> None:
        sends, futures = batch
        for future in futures:
            future.result()
        for send, outcome in _payouts_record_answers(sends, at=at):
            if outcome != "retry":
                outcomes[outcome] += 1
                continue
            n = tries[send.payout_id]
            if n >= max_attempts:
                Payout.objects.filter(pk=send.payout_id, status__in=OPEN_PAYOUT_STATUSES).update(
                    next_attempt_at=timezone.now() + timedelta(minutes=2))
                outcomes["retry"] += 1
            else:
                delay = min(cap, base * (2 ** (n - 1))) * (0.5 + random.random() / 2)  # noqa: S311
                queue.append((time.monotonic() + delay, n, send.payout_id))

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="payout-send") as pool:
        while queue or in_flight:
            now = time.monotonic()
            queue.sort()
            ready = [item for item in queue if item[0] <= now][:chunk]
            if not ready and in_flight is None:
                time.sleep(max(0.0, min(item[0] for item in queue) - now))
                continue
            batch = None
            if ready:
                taken = {pk for _, _, pk in ready}
                queue[:] = [item for item in queue if item[2] not in taken]
                for _, n, pk in ready:
                    tries[pk] = n + 1
                sends = _payouts_mark_in_transit([pk for _, _, pk in ready], at=at)
                batch = (sends, [pool.submit(_transfer_request, send, pacer) for send in sends])
            if in_flight is not None:
                record(in_flight)
            in_flight = batch
    return dict(outcomes)


@retry_on_conflict
def _payouts_mark_in_transit(payout_ids: list[int], at: datetime | None = None) -> list[_Send]:
    """Lock the still-open payouts (pk order), mark them in_transit and count the attempt."""
    if not payout_ids:
        return []
    with transaction.atomic():
        payouts = list(Payout.objects.select_for_update(of=("self",)).select_related("run")
                       .filter(pk__in=payout_ids, status__in=OPEN_PAYOUT_STATUSES).order_by("pk"))
        now = at or timezone.now()
        for payout in payouts:
            payout.status, payout.attempts, payout.last_attempt_at = PayoutStatus.IN_TRANSIT, payout.attempts + 1, now
        Payout.objects.bulk_update(payouts, ["status", "attempts", "last_attempt_at"])
    return [_Send(payout_id=p.pk, worker_id=p.worker_id, run_id=p.run_id, amount=p.amount, currency=p.currency,
                  destination=p.destination, idempotency_key=p.idempotency_key,
                  transfer_group=p.run.transfer_group) for p in payouts]


def _transfer_request(send: _Send, pacer: _Pacer | None = None) -> _Send:
    if pacer is not None:
        pacer.wait()
    try:
        transfer = stripe_gateway.transfer_create(
            amount=send.amount, currency=send.currency, destination=send.destination,
            transfer_group=send.transfer_group, idempotency_key=send.idempotency_key,
            metadata={"payout_id": str(send.payout_id), "run_id": str(send.run_id),
                      "worker_id": str(send.worker_id)},
            description=f"Shiftline payout {send.payout_id}",
        )
        send.transfer_id, send.error = transfer.id, None
    except stripe.StripeError as exc:
        send.transfer_id, send.error = "", exc
    return send


@retry_on_conflict
def _payouts_record_answers(sends: list[_Send], at: datetime | None = None) -> list[tuple[_Send, str]]:
    """Record a chunk's answers in one transaction: accepted → paid (in_transit → paid posting),
    refused for good → failed (money back to available), otherwise still in transit."""
    results: list[tuple[_Send, str]] = []
    accepted = [s for s in sends if s.transfer_id]
    refused: list[tuple[_Send, stripe.StripeError]] = []
    transient: list[tuple[_Send, stripe.StripeError, stripe_gateway.Outcome]] = []
    for send in sends:
        if send.error is None:
            continue
        outcome = stripe_gateway.classify(send.error)
        if outcome == stripe_gateway.Outcome.PERMANENT:
            refused.append((send, send.error))
        else:
            transient.append((send, send.error, outcome))
    with transaction.atomic():
        if accepted:
            payouts_mark_paid(transfers={s.payout_id: s.transfer_id for s in accepted}, source="api", at=at)
            results += [(s, "paid") for s in accepted]
        for send, exc in refused:
            code = str(getattr(exc, "code", None) or f"http_{exc.http_status or 'none'}")
            payout_mark_failed(payout_id=send.payout_id, code=code, message=str(exc.user_message or exc))
            results.append((send, "failed"))
        for send, exc, outcome in transient:
            code = str(getattr(exc, "code", None) or f"http_{exc.http_status or 'none'}")
            Payout.objects.filter(pk=send.payout_id, status=PayoutStatus.IN_TRANSIT).update(
                failure_code=f"{outcome.value}:{code}"[:64], failure_message=str(exc)[:2000])
            if outcome == stripe_gateway.Outcome.STUCK:
                logger.error("payout %s stuck: %s", send.payout_id, exc)
                results.append((send, "stuck"))
            else:
                results.append((send, "retry"))
    return results


@retry_on_conflict
def payouts_mark_paid(*, transfers: dict[int, str], source: str, at: datetime | None = None) -> None:
    """Stripe accepted these transfers (`{payout id: transfer id}`): in_transit → paid, the money
    to each worker's paid account. Locks the payouts in pk order; safe to repeat (the API answer
    and a `transfer.created` webhook may both arrive, in either order). A transfer for a failed
    payout moves nothing and is recorded for finance."""
    with transaction.atomic():
        payouts = list(Payout.objects.select_for_update().filter(pk__in=transfers).order_by("pk"))
        for p in payouts:
            if p.status == PayoutStatus.FAILED:
                logger.error("transfer %s exists for failed payout %s", transfers[p.pk], p.pk)
                PayoutEvent.objects.create(payout=p, kind="transfer_after_failure",
                                           data={"transfer": transfers[p.pk], "source": source})
        to_pay = [p for p in payouts if p.status in OPEN_PAYOUT_STATUSES]
        postings: list[Posting] = []
        for currency in {p.currency for p in to_pay}:
            group = [p for p in to_pay if p.currency == currency]
            accounts = ledger_accounts_ensure(worker_ids={p.worker_id for p in group}, currency=currency)
            postings += [
                Posting(key=f"payout-paid:{p.pk}", kind=JournalKind.PAYOUT_PAID, currency=currency,
                        lines=[(accounts[(AccountKind.WORKER_IN_TRANSIT, p.worker_id)], -p.amount),
                               (accounts[(AccountKind.WORKER_PAID, p.worker_id)], p.amount)],
                        memo=f"Transfer {transfers[p.pk]}", worker_id=p.worker_id, payout_id=p.pk,
                        refs={"transfer": transfers[p.pk]})
                for p in group
            ]
        ledger_post_many(postings)
        now = at or timezone.now()
        for p in to_pay:
            p.status, p.stripe_transfer_id, p.paid_at = PayoutStatus.PAID, transfers[p.pk], now
            p.failure_code, p.failure_message, p.next_attempt_at = "", "", None
        Payout.objects.bulk_update(to_pay, ["status", "stripe_transfer_id", "paid_at", "failure_code",
                                            "failure_message", "next_attempt_at"])
        Earning.objects.filter(payout_id__in=[p.pk for p in to_pay], status=EarningStatus.IN_PAYOUT).update(
            status=EarningStatus.PAID)
        PayoutEvent.objects.bulk_create([PayoutEvent(payout=p, kind="paid", data={"transfer": transfers[p.pk],
                                                                                  "source": source})
                                         for p in to_pay])


@retry_on_conflict
def payout_mark_failed(*, payout_id: int, code: str, message: str = "") -> Payout:
    """Stripe refused the transfer for good: failed, and the money returns to available."""
    with transaction.atomic():
        payout = Payout.objects.select_for_update().get(pk=payout_id)
        if payout.status not in OPEN_PAYOUT_STATUSES:
            return payout
        accounts = ledger_accounts_ensure(worker_ids=[payout.worker_id], currency=payout.currency)
        ledger_post(key=f"payout-failed:{payout.pk}", kind=JournalKind.PAYOUT_FAILED, currency=payout.currency,
                    lines=[(accounts[(AccountKind.WORKER_IN_TRANSIT, payout.worker_id)], -payout.amount),
                           (accounts[(AccountKind.WORKER_AVAILABLE, payout.worker_id)], payout.amount)],
                    memo=f"Payout {payout.pk} failed: {code}", worker_id=payout.worker_id,
                    payout_id=payout.pk, refs={"code": code})
        payout.status, payout.failed_at = PayoutStatus.FAILED, timezone.now()
        payout.failure_code, payout.failure_message = code[:64], message[:2000]
        payout.save(update_fields=["status", "failed_at", "failure_code", "failure_message"])
        Earning.objects.filter(payout=payout, status=EarningStatus.IN_PAYOUT).update(
            status=EarningStatus.AVAILABLE, payout=None)
        PayoutEvent.objects.create(payout=payout, kind="failed", data={"code": code, "message": message[:500]})
        return payout


def payouts_retry_stuck(*, idle_for: timedelta = timedelta(minutes=2)) -> int:
    """Resend open payouts nobody is working on (a crashed run, retries exhausted), then finish
    their runs. Safe alongside a run: the same idempotency key makes a duplicate send harmless."""
    now = timezone.now()
    ids = list(Payout.objects.filter(status__in=OPEN_PAYOUT_STATUSES)
               .filter(Q(next_attempt_at__lte=now)
                       | Q(next_attempt_at__isnull=True, last_attempt_at__lte=now - idle_for)
                       | Q(next_attempt_at__isnull=True, last_attempt_at__isnull=True, created_at__lte=now - idle_for))
               .order_by("pk").values_list("pk", flat=True)[:1000])
    # Stripe keeps idempotency keys for 24 hours: before resending an old payout, look for a
    # transfer that already exists for it (by its run's transfer group and our metadata).
    old = list(Payout.objects.filter(pk__in=ids, created_at__lte=now - timedelta(hours=12))
               .select_related("run").order_by("pk"))
    found: set[int] = set()
    for group in {p.run.transfer_group for p in old}:
        wanted = {str(p.pk): p for p in old if p.run.transfer_group == group}
        for transfer in stripe_gateway.transfers_list(transfer_group=group):
            metadata = transfer.metadata.to_dict() if transfer.metadata else {}
            payout = wanted.get(str(metadata.get("payout_id") or ""))
            if payout is not None:
                payouts_mark_paid(transfers={payout.pk: transfer.id}, source="reconciled")
                found.add(payout.pk)
    payouts_send(payout_ids=[pk for pk in ids if pk not in found])
    for run_id in PayoutRun.objects.filter(status=PayoutRunStatus.RUNNING).values_list("pk", flat=True):
        payout_run_finalize(run_id=run_id)
    return len(ids)

