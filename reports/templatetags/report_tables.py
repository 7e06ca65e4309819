"""`{{ row|field:"language" }}`: a breakdown row's value by a key the including template names."""

from django import template

register = template.Library()


@register.filter
def field(row: dict, name: str):
    return row.get(name)
