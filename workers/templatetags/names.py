"""Names for codes people should never have to decode: languages (ISO 639-1) and countries
(ISO 3166-1 alpha-2), from pycountry's tables. An unknown code is shown as it is."""

from __future__ import annotations

from functools import cache

import pycountry
from django import template

register = template.Library()


@cache
def language_name(code: str) -> str:
    found = pycountry.languages.get(alpha_2=(code or "").lower()) if code else None
    return found.name if found is not None else code


@cache
def country_name(code: str) -> str:
    found = pycountry.countries.get(alpha_2=(code or "").upper()) if code else None
    if found is None:
        return code
    return getattr(found, "common_name", None) or found.name


@register.filter(name="language_name")
def language_name_filter(code: str) -> str:
    return language_name(code)


@register.filter(name="language_names")
def language_names_filter(codes) -> str:
    """`["en", "yo"]` → "English, Yoruba"."""
    return ", ".join(language_name(code) for code in codes or [])


@register.filter(name="country_name")
def country_name_filter(code: str) -> str:
    return country_name(code)
