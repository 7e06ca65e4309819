"""Domain errors of the payouts app (rendered by marketplace.api.exception_handler)."""

from __future__ import annotations

from marketplace.errors import Conflict, DomainError, InvalidInput


class LedgerError(DomainError):
    """A posting the ledger refuses (unbalanced, mixed currencies, zero lines)."""

    status = 400
    code = "ledger_refused"
    default_detail = "The ledger refused this posting."


class CurrencyMismatch(LedgerError):
    code = "currency_mismatch"
    default_detail = "A posting may not mix currencies."


class Unbalanced(LedgerError):
    code = "ledger_unbalanced"
    default_detail = "The lines of a posting must sum to zero."


class EarningNotReady(Conflict):
    """An event arrived before the one it depends on (e.g. a rating before its resolve).

    Raised inside an outbox handler so the event is relayed again later; nothing is recorded.
    """

    code = "earning_not_ready"
    default_detail = "The case pay this event refers to has not been posted yet."


class CurrencyChangeRefused(Conflict):
    code = "currency_change_refused"
    default_detail = "The rate card's currency cannot change while balances exist in the current one."


class StripeUnavailable(DomainError):
    status = 503
    code = "stripe_unavailable"
    default_detail = "Stripe could not be reached; try again shortly."


class PayoutAccountRefused(Conflict):
    code = "payout_account_refused"
    default_detail = "Stripe refused to set up the payout account."


__all__ = [
    "CurrencyChangeRefused",
    "CurrencyMismatch",
    "EarningNotReady",
    "InvalidInput",
    "LedgerError",
    "PayoutAccountRefused",
    "StripeUnavailable",
    "Unbalanced",
]
