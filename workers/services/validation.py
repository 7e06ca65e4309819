"""Checks of codes shared by the API and the pages: languages, countries, timezones, skills."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable

import pycountry

from workers.models import Skill


def language_error(code: str) -> str | None:
    if not isinstance(code, str) or len(code) != 2 or pycountry.languages.get(alpha_2=code.lower()) is None:
        return f"{code!r} is not an ISO 639-1 language code (such as \"en\" or \"pt\")."
    return None


def country_error(code: str) -> str | None:
    if not isinstance(code, str) or len(code) != 2 or pycountry.countries.get(alpha_2=code.upper()) is None:
        return f"{code!r} is not an ISO 3166-1 alpha-2 country code (such as \"PT\")."
    return None


def timezone_error(name: str) -> str | None:
    if not isinstance(name, str) or name not in zoneinfo.available_timezones():
        return f"{name!r} is not an IANA timezone name (such as \"Europe/Lisbon\")."
    return None


def skill_errors(codes: Iterable[str]) -> list[str]:
    codes = list(codes)
    known = set(Skill.objects.filter(code__in=codes, active=True).values_list("code", flat=True))
    return [f"{code!r} is not a skill in the catalogue." for code in codes if code not in known]


def unique_codes(codes: Iterable[str], *, lower: bool) -> list[str]:
    seen: list[str] = []
    for code in codes:
        code = code.strip().lower() if lower else code.strip()
        if code not in seen:
            seen.append(code)
    return seen
