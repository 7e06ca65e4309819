"""The versioned rate card and the one price of a case."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction

from kernel.audit.models import AuditAction
from kernel.audit.services import record as audit_record
from payouts.errors import CurrencyChangeRefused
from payouts.models import LedgerAccount, RateCard, RateCardChange

DEFAULT_RATE_CARD = {"currency": "eur", "base_per_case": 500, "csat_bonus": 100, "hold_hours": 72,
                     "minimum_payout": 2000}


def rate_card_current() -> RateCard:
    """The newest rate card; creates version 1 with the defaults if there is none."""
    card = RateCard.objects.order_by("-version").first()
    if card is None:
        RateCard.objects.bulk_create([RateCard(version=1, **DEFAULT_RATE_CARD)], ignore_conflicts=True)
        card = RateCard.objects.latest("version")
    return card


def rate_cards_at(whens: Sequence[datetime]) -> list[RateCard]:
    """The rate card in force at each moment: the newest created at or before it (the oldest
    card for a moment before every card). One query, whatever the number of moments."""
    cards = list(RateCard.objects.order_by("-version")) or [rate_card_current()]
    return [next((card for card in cards if card.created_at <= when), cards[-1]) for when in whens]


def rate_card_update(*, actor, currency: str, base_per_case: int, csat_bonus: int, hold_hours: int,
                     minimum_payout: int, reason: str = "") -> RateCard:
    """Create the next rate card version and its audit row. Locks the newest version's row, so
    concurrent edits get consecutive versions. Refuses a currency change while money is held in
    the current currency."""
    with transaction.atomic():
        rate_card_current()
        RateCard.objects.select_for_update().order_by("-version").first()
        current = RateCard.objects.latest("version")  # re-read after the lock
        currency = currency.lower()
        if currency != current.currency and LedgerAccount.objects.filter(
            currency=current.currency, worker__isnull=False
        ).exclude(balance=0).exists():
            raise CurrencyChangeRefused()
        values = {"currency": currency, "base_per_case": base_per_case, "csat_bonus": csat_bonus,
                  "hold_hours": hold_hours, "minimum_payout": minimum_payout}
        card = RateCard.objects.create(version=current.version + 1, created_by=actor, **values)
        changes = {name: [getattr(current, name), value] for name, value in values.items()
                   if getattr(current, name) != value}
        RateCardChange.objects.create(rate_card=card, previous=current, actor=actor, changes=changes,
                                      reason=reason)
        audit_record(AuditAction.RATE_CARD_UPDATE, actor=actor, target=card,
                     before={"version": current.version, **{name: getattr(current, name) for name in values}},
                     after={"version": card.version, **values})
        return card


def case_pay_amount(card: RateCard, multiplier: Decimal) -> int:
    """A case's pay: the card's `base_per_case × multiplier` (the shift's rate multiplier),
    rounded half-up to the minor unit. The only place a case is priced."""
    return int((Decimal(card.base_per_case) * multiplier).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def case_pay_pricer() -> Callable[[Decimal], tuple[int, str]]:
    """What a case pays at each multiplier on today's rate card, for pages that show a shift's rate
    as money (`settings.CASE_PAY_PRICER` names this, so the workers app asks without importing
    payouts). The card is read once; each call prices through `case_pay_amount`."""
    card = rate_card_current()

    def price(multiplier: Decimal) -> tuple[int, str]:
        return case_pay_amount(card, multiplier), card.currency

    return price
