"""`{{ amount|money:currency }}`: integer minor units → "EUR 12.50" (never floats)."""

from django import template

register = template.Library()

ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
                "xaf", "xof", "xpf"}


@register.filter
def money(amount, currency="eur") -> str:
    if amount is None or amount == "":
        return "—"
    amount = int(amount)
    code = str(currency or "eur").lower()
    sign = "−" if amount < 0 else ""
    amount = abs(amount)
    if code in ZERO_DECIMAL:
        return f"{sign}{code.upper()} {amount:,}"
    return f"{sign}{code.upper()} {amount // 100:,}.{amount % 100:02d}"
