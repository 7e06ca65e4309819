"""Domain errors of the payouts app (rendered by kernel.api.exception_handler)."""

from __future__ import annotations

from enum import StrEnum

from kernel.errors import Conflict, DomainError
from kernel.outbox.handlers import EventNotReady


class PayoutErrorCode(StrEnum):
    LEDGER_REFUSED = "ledger_refused"
    CURRENCY_MISMATCH = "currency_mismatch"
    LEDGER_UNBALANCED = "ledger_unbalanced"
    EARNING_NOT_READY = "earning_not_ready"
    CURRENCY_CHANGE_REFUSED = "currency_change_refused"
    STRIPE_UNAVAILABLE = "stripe_unavailable"
    PAYOUT_ACCOUNT_REFUSED = "payout_account_refused"
    INVALID_SIGNATURE = "invalid_signature"


class LedgerError(DomainError):
    """A posting the ledger refuses (unbalanced, mixed currencies, zero lines)."""

    status = 400
    code = PayoutErrorCode.LEDGER_REFUSED
    default_detail = "The ledger refused this posting."


class CurrencyMismatch(LedgerError):
    code = PayoutErrorCode.CURRENCY_MISMATCH
    default_detail = "A posting may not mix currencies."


class Unbalanced(LedgerError):
    code = PayoutErrorCode.LEDGER_UNBALANCED
    default_detail = "The lines of a posting must sum to zero."


class EarningNotReady(Conflict, EventNotReady):
    """An event arrived before the one it depends on (e.g. a rating before its resolve).

    Raised inside an outbox handler, which records nothing; the relay retries within a second.
    """

    code = PayoutErrorCode.EARNING_NOT_READY
    default_detail = "The case pay this event refers to has not been posted yet."


class CurrencyChangeRefused(Conflict):
    code = PayoutErrorCode.CURRENCY_CHANGE_REFUSED
    default_detail = "The rate card's currency cannot change while balances exist in the current one."


class StripeUnavailable(DomainError):
    status = 503
    code = PayoutErrorCode.STRIPE_UNAVAILABLE
    default_detail = "Stripe could not be reached; try again shortly."


class PayoutAccountRefused(Conflict):
    code = PayoutErrorCode.PAYOUT_ACCOUNT_REFUSED
    default_detail = "Stripe refused to set up the payout account."
