"""JSON from clients (HTTP bodies and websocket frames): what Python's decoder accepts but nothing
after it can hold is refused here, once, as malformed input.

- Nesting deeper than the interpreter's recursion limit (`[[[[…` thousands deep) makes the decoder
  raise `RecursionError`, which is not a `ValueError`.
- A lone UTF-16 surrogate (`"\\ud800"`) decodes to a Python string that cannot be encoded as UTF-8,
  so PostgreSQL (and any reply that echoes it) fails on it later.
"""

from __future__ import annotations

import json
from typing import Any


class MalformedJSON(ValueError):
    """The text is not JSON this server accepts; the message says why."""


def unencodable_string_in(value: Any) -> bool:
    """Whether any string in a decoded JSON value (keys included) holds a lone surrogate.
    Walks without recursion: the value may be as deep as the decoder allowed."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def refuse_unencodable(value: Any) -> Any:
    if unencodable_string_in(value):
        raise MalformedJSON("Strings must be valid Unicode (no lone surrogates).")
    return value


def parse_json(text: str | bytes) -> Any:
    """`json.loads`, raising `MalformedJSON` (a `ValueError`) for anything this server refuses."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise MalformedJSON("JSON nested too deeply.") from None
    except ValueError as exc:
        raise MalformedJSON(f"Not JSON: {exc}.") from None
    return refuse_unencodable(value)
