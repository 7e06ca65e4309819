"""SQL building blocks the report selectors share: durations, ISO text, percentiles, grouped aggregates."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import models
from django.db.models import Q, Sum
from django.db.models.expressions import Combinable
from django.db.models.functions import Coalesce

from payouts.models import RateCard


class SecondsBetween(models.Func):
    """`later - earlier` in seconds, as a double (NULL when either side is NULL)."""

    output_field = models.FloatField()
    arity = 2
    # EXTRACT returns numeric; PERCENTILE_CONT wants double precision.
    template = "(EXTRACT(EPOCH FROM (%(expressions)s)))::double precision"
    arg_joiner = " - "


class IsoUtc(models.Func):
    """A timestamp as ISO 8601 UTC text (`2026-11-25T09:30:00Z`) formatted by the database.

    For big exports: formatting in SQL spares Python parsing and re-formatting every timestamp.
    """

    output_field = models.CharField()
    arity = 1
    template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


class PercentileCont(models.Aggregate):
    """`PERCENTILE_CONT(fraction) WITHIN GROUP (ORDER BY expression)`."""

    function = "PERCENTILE_CONT"
    name = "PercentileCont"
    output_field = models.FloatField()
    allow_distinct = False

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        self.fraction = float(fraction)
        if not 0 <= self.fraction <= 1:
            raise ValueError("fraction must be within [0, 1]")
        # The fraction is a float we control, never user input: safe to inline.
        self.template = f"%(function)s({self.fraction!r}) WITHIN GROUP (ORDER BY %(expressions)s)"
        super().__init__(expression, **extra)


def grouped(queryset: models.QuerySet, key: Combinable | None, **aggregates: Any) -> dict[Any, dict]:
    """One aggregate query: `{group key: {name: value}}`, or `{None: {...}}` for the whole range."""
    if key is None:
        return {None: queryset.order_by().aggregate(**aggregates)}
    rows = queryset.annotate(_group=key).order_by().values("_group").annotate(**aggregates)
    return {row.pop("_group"): row for row in rows}


def money_sum(field: str, **filter_kwargs: Any) -> Coalesce:
    """`SUM(field)` (0 when there are no rows), over the rows matching `filter_kwargs` if given."""
    return Coalesce(Sum(field, filter=Q(**filter_kwargs) if filter_kwargs else None), 0)


def each_day(day_from: dt.date, day_to: dt.date) -> list[dt.date]:
    return [day_from + dt.timedelta(days=n) for n in range((day_to - day_from).days + 1)]


def report_currency() -> str:
    """The currency reports are in: the current rate card's (one currency at a time)."""
    card = RateCard.objects.order_by("-version").values_list("currency", flat=True).first()
    return card or "eur"
