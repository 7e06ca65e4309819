"""The audit trail's own guarantees: entries name actor, address and object; nothing rewrites them."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory, override_settings

from kernel.audit.models import AuditAction, AuditEntry
from kernel.audit.services import record
from kernel.net import client_address
from tests.factories.workers import WorkerFactory

pytestmark = pytest.mark.django_db


def test_an_entry_names_who_from_where_and_what():
    worker = WorkerFactory()
    request = RequestFactory().post("/x", REMOTE_ADDR="203.0.113.7")
    request.user = worker.user
    entry = record(AuditAction.WORKER_APPROVE, request=request, target=worker,
                   before={"status": "applied"}, after={"status": "approved"})
    entry.refresh_from_db()
    assert (entry.actor_id, entry.actor_username, entry.ip) == (worker.user.pk, worker.user.username, "203.0.113.7")
    assert (entry.action, entry.object_type, entry.object_id) == ("worker.approve", "workers.worker", str(worker.pk))
    assert (entry.before, entry.after) == ({"status": "applied"}, {"status": "approved"})
    assert entry.at is not None


@pytest.mark.parametrize("statement", [
    "UPDATE audit_auditentry SET action = 'auth.login' WHERE id = %s",
    "DELETE FROM audit_auditentry WHERE id = %s",
])
def test_the_database_refuses_to_rewrite_history(statement):
    entry = record(AuditAction.AUTH_LOGIN_FAILED, username="mallory", ip="198.51.100.1")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [entry.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).action == "auth.login_failed"


@pytest.mark.parametrize(("proxies", "forwarded", "expected"), [
    (0, "1.1.1.1, 2.2.2.2", "10.0.0.9"),   # not behind a proxy: the header is anyone's to forge
    (1, "1.1.1.1, 2.2.2.2", "2.2.2.2"),    # one proxy: what it saw is the last hop
    (2, "1.1.1.1, 2.2.2.2", "1.1.1.1"),
    (3, "2.2.2.2", "2.2.2.2"),             # fewer hops than proxies: the leftmost there is
    (1, None, "10.0.0.9"),
    (1, "not-an-address", None),
])
def test_the_client_address_trusts_only_the_configured_proxies(proxies, forwarded, expected):
    with override_settings(TRUSTED_PROXY_COUNT=proxies):
        assert client_address("10.0.0.9", forwarded) == expected
