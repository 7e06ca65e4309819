"""Stripe Connect: onboarding workers' connected accounts, and the webhooks that report on those
accounts and on transfers (handled once per event id, in any order)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import stripe
from django.db import IntegrityError, transaction
from django.utils import timezone

from kernel.transactions import retry_on_conflict
from payouts import stripe_gateway
from payouts.errors import PayoutAccountRefused, StripeUnavailable
from payouts.ledger import ledger_accounts_ensure, ledger_post
from payouts.models import (
    AccountKind,
    Earning,
    EarningStatus,
    JournalKind,
    Payout,
    PayoutEvent,
    PayoutStatus,
    StripeEvent,
)
from payouts.runs import OPEN_PAYOUT_STATUSES, payouts_mark_paid
from workers.models import PayoutAccountStatus, Worker
from workers.payout_account import payout_account_attach, payout_account_status_set

logger = logging.getLogger(__name__)

def payout_account_status_from(account: dict) -> str:
    """Map a Stripe account to `none/pending/ready/restricted`.

    restricted: Stripe disabled it (`requirements.disabled_reason`) or its transfers capability is
    inactive after details were submitted; ready: transfers capability active (or payouts
    enabled when capabilities are not given); pending otherwise (onboarding not finished)."""
    requirements = account.get("requirements") or {}
    capabilities = account.get("capabilities") or {}
    transfers = capabilities.get("transfers") if isinstance(capabilities, dict) else None
    if requirements.get("disabled_reason"):
        return PayoutAccountStatus.RESTRICTED
    if transfers == "active" or (transfers is None and account.get("payouts_enabled")):
        return PayoutAccountStatus.READY
    if account.get("details_submitted") and transfers == "inactive":
        return PayoutAccountStatus.RESTRICTED
    return PayoutAccountStatus.PENDING


def payout_account_onboarding_url(*, worker: Worker, refresh_url: str, return_url: str) -> str:
    """Create the worker's connected account if needed (idempotent per worker at Stripe) and
    return a fresh Account Link to onboard. A new link each call (links are single-use)."""
    try:
        if not worker.stripe_account_id:
            account = stripe_gateway.account_create(worker_id=worker.pk, email=worker.user.email,
                                                    country=worker.country)
            worker = payout_account_attach(worker_id=worker.pk, stripe_account_id=account.id,
                                           actor=worker.user)
        link = stripe_gateway.account_link_create(account_id=worker.stripe_account_id,
                                                  refresh_url=refresh_url, return_url=return_url)
    except stripe.StripeError as exc:
        if stripe_gateway.classify(exc) == stripe_gateway.Outcome.PERMANENT:
            raise PayoutAccountRefused(str(exc.user_message or "Stripe refused the account.")) from exc
        raise StripeUnavailable() from exc
    return link.url


@retry_on_conflict
def stripe_event_handle(*, event: dict) -> StripeEvent:
    """Handle one verified webhook event once per event id, in one transaction with its record.

    Handlers tolerate any order: `account.updated` ignores an event older than the newest one
    already applied to that account; transfer events use cumulative amounts and mark a payout
    paid if the webhook beats the API answer."""
    obj = (event.get("data") or {}).get("object") or {}
    created = event.get("created")
    created_at = datetime.fromtimestamp(int(created), tz=UTC) if created else None
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = StripeEvent.objects.create(
                    event_id=event["id"], type=event.get("type", ""), object_id=str(obj.get("id") or ""),
                    livemode=bool(event.get("livemode")), created=created_at, payload=event)
        except IntegrityError:
            return StripeEvent.objects.get(event_id=event["id"])
        handler = _WEBHOOK_HANDLERS.get(record.type)
        record.result = handler(record, obj) if handler else "ignored"
        record.processed_at = timezone.now()
        record.save(update_fields=["result", "processed_at"])
        return record


def _on_account_updated(record: StripeEvent, account: dict) -> str:
    if record.created and StripeEvent.objects.filter(
        type="account.updated", object_id=record.object_id, created__gt=record.created,
        processed_at__isnull=False,
    ).exclude(pk=record.pk).exists():
        return "stale"
    status = payout_account_status_from(account)
    worker = payout_account_status_set(stripe_account_id=record.object_id, status=status,
                                       reason=f"Stripe event {record.event_id}",
                                       data={"event": record.event_id})
    return f"status:{status}" if worker else "unknown_account"


def _payout_for_transfer(transfer: dict) -> Payout | None:
    payout = Payout.objects.filter(stripe_transfer_id=transfer.get("id") or "-").first()
    if payout is None:
        payout_id = str((transfer.get("metadata") or {}).get("payout_id") or "")
        if payout_id.isdigit():
            payout = Payout.objects.filter(pk=int(payout_id)).first()
    return payout


def _on_transfer_event(record: StripeEvent, transfer: dict) -> str:
    """`transfer.created/updated/reversed`: the transfer exists, so its payout is paid; any
    cumulative `amount_reversed` it carries returns to available (once)."""
    payout = _payout_for_transfer(transfer)
    if payout is None:
        return "unknown_transfer"
    payout = payout_apply_reversal(payout_id=payout.pk, transfer=transfer, source=record.event_id)
    return f"payout:{payout.status}:reversed={payout.reversed_amount}"


@retry_on_conflict
def payout_apply_reversal(*, payout_id: int, transfer: dict, source: str = "") -> Payout:
    """Return reversed money to available by a reversing posting (paid → available).

    Uses the transfer's cumulative `amount_reversed`, so duplicate or out-of-order events post
    each reversed cent once (key `payout-reversed:<payout>:<cumulative>`). A reversal that
    arrives before the payout was marked paid first marks it paid (the transfer exists)."""
    with transaction.atomic():
        payout = Payout.objects.select_for_update().get(pk=payout_id)
        if payout.status in OPEN_PAYOUT_STATUSES:
            payouts_mark_paid(transfers={payout.pk: transfer["id"]}, source=f"reversal:{source}")
            payout.refresh_from_db()
        if payout.status != PayoutStatus.PAID:
            return payout
        reversed_total = transfer.get("amount_reversed")
        if reversed_total is None:
            reversals = ((transfer.get("reversals") or {}).get("data")) or []
            reversed_total = sum(int(r.get("amount") or 0) for r in reversals)
        cumulative = min(int(reversed_total or 0), payout.amount)
        delta = cumulative - payout.reversed_amount
        if delta <= 0:
            return payout
        accounts = ledger_accounts_ensure(worker_ids=[payout.worker_id], currency=payout.currency)
        ledger_post(key=f"payout-reversed:{payout.pk}:{cumulative}", kind=JournalKind.PAYOUT_REVERSED,
                    currency=payout.currency,
                    lines=[(accounts[(AccountKind.WORKER_PAID, payout.worker_id)], -delta),
                           (accounts[(AccountKind.WORKER_AVAILABLE, payout.worker_id)], delta)],
                    memo=f"Transfer {transfer['id']} reversed", worker_id=payout.worker_id,
                    payout_id=payout.pk, refs={"transfer": transfer["id"], "event": source})
        payout.reversed_amount, payout.reversed_at = cumulative, timezone.now()
        payout.save(update_fields=["reversed_amount", "reversed_at"])
        if cumulative == payout.amount:
            Earning.objects.filter(payout=payout, status=EarningStatus.PAID).update(
                status=EarningStatus.AVAILABLE, payout=None)
        PayoutEvent.objects.create(payout=payout, kind="reversed",
                                   data={"amount": delta, "cumulative": cumulative, "event": source})
        return payout


_WEBHOOK_HANDLERS = {
    "account.updated": _on_account_updated,
    "transfer.created": _on_transfer_event,
    "transfer.updated": _on_transfer_event,
    "transfer.reversed": _on_transfer_event,
}
