"""How report figures are written out: money as text, ISO 8601 UTC times, CSV lines."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable, Iterator
from typing import Any

from kernel.presentation.formatting import ZERO_DECIMAL_CURRENCIES


def format_amount(amount: int | None, currency: str) -> str:
    """`1250, "eur"` → `"12.50"`; `1250, "jpy"` → `"1250"`. Exact (integer arithmetic)."""
    if amount is None:
        return ""
    if currency.lower() in ZERO_DECIMAL_CURRENCIES:
        return str(amount)
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(int(amount)), 100)
    return f"{sign}{whole}.{cents:02d}"


def iso_utc(value: dt.datetime | None) -> str:
    """ISO 8601 in UTC with a `Z`, whole seconds: `2026-11-25T09:30:00Z`."""
    if value is None:
        return ""
    return value.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Echo:
    """A file-like object whose `write` returns the line, so csv.writer can feed a generator."""

    def write(self, value: str) -> str:
        return value


# A spreadsheet treats a cell starting with one of these as a formula (`=HYPERLINK(…)`, `+cmd|…`,
# `@SUM(…)`; tab and carriage return are read as the same by some): such text is written with a
# leading apostrophe, which spreadsheets show as text. Plain numbers ("-12.50") stay numbers.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def csv_cell(value: Any) -> Any:
    """A cell as written to CSV: text that a spreadsheet would run as a formula is neutralised."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_lines(header: list[str], rows: Iterable[Iterable[Any]], batch: int = 500) -> Iterator[str]:
    """CSV text in chunks of `batch` lines: the header, then one line per row (RFC 4180 quoting),
    every cell through `csv_cell` (no formula injection). Every CSV Shiftline writes comes from here."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield writer.writerow([csv_cell(name) for name in header])
    chunk: list[str] = []
    for row in rows:
        chunk.append(writer.writerow([csv_cell(value) for value in row]))
        if len(chunk) >= batch:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


def money_columns(names: list[str]) -> list[str]:
    """`["gross"]` → `["gross", "gross_formatted"]`: each money column and its text beside it."""
    return [column for name in names for column in (name, f"{name}_formatted")]
