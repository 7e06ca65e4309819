"""A logging filter that keeps credentials in URLs out of the logs."""

from __future__ import annotations

import logging
import re

# `?token=` (API tokens on the agent socket, ticket tokens on customer sockets) and `otp=`.
_SECRET_PARAMS = re.compile(r"([?&](?:token|otp)=)[^&\s\"']*", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    return _SECRET_PARAMS.sub(lambda match: match.group(1) + REDACTED, text)


class RedactTokens(logging.Filter):
    """Rewrites the record's message and string arguments with every `token=` value redacted.
    On `uvicorn.access` (HTTP) and `uvicorn.error` (it logs each websocket handshake with its URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: redact(value) if isinstance(value, str) else value
                           for key, value in record.args.items()}
        return True
