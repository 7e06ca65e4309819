"""Canned responses: ops write them (with placeholders), the worker console offers them rendered
for the ticket at hand. Every write and the one rendering live here; the ops page and the API call
these functions.

Placeholders are Python format fields restricted to `PLACEHOLDERS`: `{worker_first_name}`,
`{worker_name}`, `{customer_name}`, `{customer_first_name}`, `{ticket_id}`. A body naming any other
field, or with a format spec, conversion or a lone brace, is refused at save with a field error,
so rendering never fails and never shows a raw `{…}` to a customer.
"""

from __future__ import annotations

import string

from django.db import transaction

from kernel.errors import InvalidInput, NotFound
from tickets.models import CannedResponse, Ticket
from workers.models import Skill, Worker
from workers.services.validation import language_error

PLACEHOLDERS = {
    "worker_first_name": "the worker's first name",
    "worker_name": "the worker's full name",
    "customer_name": "the customer's name as they gave it",
    "customer_first_name": "the customer's first name",
    "ticket_id": "the ticket number",
}
TITLE_MAX, BODY_MAX = 100, 4000
_formatter = string.Formatter()


def canned_body_errors(body: str) -> list[str]:
    """What is wrong with a body's placeholders (empty when it renders)."""
    try:
        fields = [(name, spec, conversion) for _text, name, spec, conversion in _formatter.parse(body)
                  if name is not None]
    except ValueError:
        return ["A brace is not closed: write placeholders as {customer_name}; for a literal brace write {{ or }}."]
    known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    problems = []
    for name, spec, conversion in fields:
        if name not in PLACEHOLDERS:
            shown = "{" + name + "}" if name else "{}"
            problems.append(f"Unknown placeholder {shown}. Use one of {known}.")
        elif spec or conversion:
            problems.append(f"Write the placeholder as {{{name}}}, without a format or conversion.")
    return list(dict.fromkeys(problems))


def _first_name(name: str) -> str:
    parts = name.split()
    return parts[0] if parts else ""


def canned_placeholder_values(*, worker: Worker | None, ticket: Ticket | None) -> dict[str, str]:
    """The placeholder values this worker and ticket can fill (missing ones are left out)."""
    values: dict[str, str] = {}
    if worker is not None:
        values["worker_name"] = worker.full_name
        values["worker_first_name"] = _first_name(worker.full_name)
    if ticket is not None:
        values["customer_name"] = ticket.customer_name
        values["customer_first_name"] = _first_name(ticket.customer_name)
        values["ticket_id"] = str(ticket.pk)
    return values


class _KeepUnknown(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def canned_render(body: str, *, worker: Worker | None, ticket: Ticket | None) -> str:
    """The body with each placeholder replaced by its value for this worker and ticket; one the
    call cannot fill (no ticket given) stays as written. The only place a canned response is
    rendered."""
    return _formatter.vformat(body, (), _KeepUnknown(canned_placeholder_values(worker=worker, ticket=ticket)))


def _checked(*, title: str, body: str, language: str, topic: str | None) -> dict:
    title, body, language = title.strip(), body.strip(), (language or "").strip().lower()
    fields: dict[str, list[str]] = {}
    if not title:
        fields["title"] = ["Give the response a title, as workers will pick it by title."]
    elif len(title) > TITLE_MAX:
        fields["title"] = [f"At most {TITLE_MAX} characters."]
    if not body:
        fields["body"] = ["Write the text the worker will send."]
    elif len(body) > BODY_MAX:
        fields["body"] = [f"At most {BODY_MAX} characters."]
    else:
        problems = canned_body_errors(body)
        if problems:
            fields["body"] = problems
    if language and (error := language_error(language)):
        fields["language"] = [error]
    topic_obj = None
    if topic:
        topic_obj = Skill.objects.filter(code=topic, active=True).first()
        if topic_obj is None:
            fields["topic"] = [f"{topic!r} is not a topic in the catalogue."]
    if fields:
        raise InvalidInput("Some fields are not valid: " + ", ".join(sorted(fields)) + ".", fields=fields)
    return {"title": title, "body": body, "language": language, "topic": topic_obj}


def canned_response_create(*, title: str, body: str, language: str = "", topic: str | None = None,
                           active: bool = True) -> CannedResponse:
    """A new canned response; 400 `invalid` with field errors (unknown placeholders among them)."""
    values = _checked(title=title, body=body, language=language, topic=topic)
    return CannedResponse.objects.create(active=active, **values)


@transaction.atomic
def canned_response_update(*, response_id: int, title: str, body: str, language: str = "",
                           topic: str | None = None, active: bool = True) -> CannedResponse:
    """Replace a canned response's fields (locks its row); 404 when it does not exist."""
    response = CannedResponse.objects.select_for_update().filter(pk=response_id).first()
    if response is None:
        raise NotFound("No such canned response.")
    values = _checked(title=title, body=body, language=language, topic=topic)
    for name, value in values.items():
        setattr(response, name, value)
    response.active = active
    response.save(update_fields=[*values, "active"])
    return response


def canned_response_delete(*, response_id: int) -> bool:
    """Delete a canned response (nothing refers to one). False when it was already gone."""
    deleted, _ = CannedResponse.objects.filter(pk=response_id).delete()
    return deleted > 0
