"""Writing the audit trail. Call `record` inside the transaction of the action it describes, so the
entry commits (or rolls back) with it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from kernel.audit.context import current_client_address
from kernel.audit.models import AuditAction, AuditEntry
from kernel.net import request_client_address


def record(
    action: AuditAction | str,
    *,
    actor: Any = None,
    request: HttpRequest | None = None,
    ip: str | None = None,
    target: Any = None,
    object_type: str = "",
    object_id: Any = None,
    before: dict | None = None,
    after: dict | None = None,
    username: str = "",
) -> AuditEntry:
    """Append one entry. `target` (a model instance) names the object unless `object_type` /
    `object_id` do; `request` gives the actor and the client address unless given. Without a
    request, the address is that of the request or socket being served (`kernel.audit.context`);
    none in a task or command."""
    if request is not None:
        if actor is None and getattr(request, "user", None) is not None and request.user.is_authenticated:
            actor = request.user
        if ip is None:
            ip = request_client_address(request)
    elif ip is None:
        ip = current_client_address()
    if target is not None:
        object_type = object_type or target._meta.label_lower
        object_id = target.pk if object_id is None else object_id
    if actor is not None and not getattr(actor, "pk", None):
        actor = None
    return AuditEntry.objects.create(
        action=str(action),
        actor=actor,
        actor_username=username or (actor.get_username() if actor is not None else ""),
        object_type=object_type,
        object_id="" if object_id is None else str(object_id),
        ip=ip or None,
        before=before,
        after=after,
    )
