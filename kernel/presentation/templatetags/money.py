"""`{{ amount|money:currency }}`: integer minor units → "EUR 12.50" (never floats); and
`{{ amount|money_input:currency }}` → "12.50" for a form field."""

from django import template

from kernel.presentation.formatting import money_input_text, money_text

register = template.Library()


@register.filter
def money(amount, currency="eur") -> str:
    return money_text(amount, currency)


@register.filter
def money_input(amount, currency="eur") -> str:
    if amount is None or amount == "":
        return ""
    return money_input_text(int(amount), str(currency or "eur"))
