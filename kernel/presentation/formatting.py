"""Money and times as people read them. Integer arithmetic only for money (never floats).

`money_text` writes minor units as "EUR 12.50"; `money_parse` reads "12.50" back into minor units,
the one place a typed amount becomes cents. `local_time_text` writes a moment in a timezone with
the zone named, so nobody has to guess whether "04:46" is UTC or theirs."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

# Stripe's zero-decimal currencies: their minor unit is the whole unit.
ZERO_DECIMAL_CURRENCIES = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)


def minor_digits(currency: str) -> int:
    """How many decimals the currency's major unit has (0 or 2, as Stripe counts them)."""
    return 0 if currency.lower() in ZERO_DECIMAL_CURRENCIES else 2


def money_text(amount: int | str | None, currency: str | None = "eur") -> str:
    """`1250, "eur"` → `"EUR 12.50"`; `-5, "eur"` → `"−EUR 0.05"`; `1250, "jpy"` → `"JPY 1,250"`;
    None → an em dash."""
    if amount is None or amount == "":
        return "—"
    value = int(amount)
    code = str(currency or "eur").lower()
    sign = "−" if value < 0 else ""
    value = abs(value)
    if minor_digits(code) == 0:
        return f"{sign}{code.upper()} {value:,}"
    return f"{sign}{code.upper()} {value // 100:,}.{value % 100:02d}"


def money_input_text(amount: int, currency: str) -> str:
    """Minor units as an input field shows them, without currency or grouping: `1250` → `"12.50"`."""
    if minor_digits(currency) == 0:
        return str(int(amount))
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(int(amount)), 100)
    return f"{sign}{whole}.{cents:02d}"


_AMOUNT = re.compile(r"^\s*(\d{1,12})(?:[.,](\d+))?\s*$")


def money_parse(text: str, currency: str) -> int:
    """`"12.50", "eur"` → 1250, `"12,5"` → 1250, `"12"` → 1200; `"1250", "jpy"` → 1250.

    Raises ValueError with a sentence for people: negative numbers, more decimals than the
    currency has, and anything that is not a plain amount are refused (never rounded)."""
    digits = minor_digits(currency)
    match = _AMOUNT.match(str(text))
    if match is None:
        raise ValueError("Enter an amount such as 12.50." if digits else "Enter a whole amount such as 1250.")
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > digits:
        raise ValueError(f"{currency.upper()} has no minor unit: enter a whole amount." if digits == 0
                         else f"{currency.upper()} has {digits} decimals at most.")
    return int(whole) * 10 ** digits + int(fraction.ljust(digits, "0") or 0)


def timezone_or_utc(name: str | None) -> zoneinfo.ZoneInfo:
    """The IANA zone of that name, UTC when empty or unknown."""
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    return zoneinfo.ZoneInfo("UTC")


def zone_label(tz: dt.tzinfo) -> str:
    """The zone's IANA name with underscores as spaces: "America/New York", "UTC"."""
    return str(getattr(tz, "key", None) or tz).replace("_", " ")


def local_time_text(value: dt.datetime | None, tz: dt.tzinfo, *, with_date: bool = True) -> str:
    """`2026-12-02T04:49:07Z` in Europe/Paris → `"Wed 2 Dec 2026, 05:49 Europe/Paris"`
    (`with_date=False`: `"05:49 Europe/Paris"`); None → an em dash."""
    if value is None:
        return "—"
    local = value.astimezone(tz)
    text = f"{local:%a} {local.day} {local:%b %Y, %H:%M}" if with_date else f"{local:%H:%M}"
    return f"{text} {zone_label(tz)}"
