"""Every API endpoint from the URLconf, for every kind of caller, with the status API.md gives it.

The endpoints are walked from `get_resolver()`: an endpoint (or method) without a row here fails
the test, so a new one cannot ship without deciding who may use it. For every refusal the database
is compared before and after (nothing changed), and every object a caller may not see answers
exactly as a nonexistent id does (same status, same body). Each request runs in a savepoint that
is rolled back, so every caller meets the same state.

Lists are scoped to the caller (a role that may see none of them gets an empty list) and an object
outside the caller's scope is "not found" (STYLE.md "Reads"), so finance reading shifts, tickets or a
worker meets 200 with nothing in it or 404, not 403.

Callers: anonymous, a customer holding the token of *another* ticket, worker A (holds the ticket,
the shift claim), worker B (another approved worker on shift), ops, finance and admin (who may do
what ops and finance may, API.md "Roles").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from django.db import connection, transaction
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from tests.factories.accounts import api_token_for
from tests.factories.tickets import TicketFactory, on_shift_worker
from tests.factories.workers import ShiftFactory, StaffFactory, WorkerFactory

ROLES = ("anonymous", "customer", "worker_a", "worker_b", "ops", "finance", "admin")
METHODS = ("get", "post", "put", "patch", "delete")
NONEXISTENT = 987654321


class Rollback(Exception):
    pass


@dataclass
class Row:
    """Expected statuses in ROLES order; `path` is formatted with the world's ids."""

    path: str
    statuses: tuple[int, ...]
    body: dict | None = None
    # The path with an id that exists for nobody (compared with the hidden object's answer).
    missing: str | None = None
    headers: dict = field(default_factory=dict)
    # Tables a refusal may write to by design (a failed sign-in is counted and audited).
    records: frozenset[str] = frozenset()


# What a refused sign-in writes: the lockout's count of failures and the audit trail's entry.
SIGN_IN_RECORDS = frozenset({"axes_accessattempt", "axes_accessfailurelog", "audit_auditentry"})
# What a wrong code at two-factor enrolment writes: its audit entry (and the device's failure count).
WRONG_CODE_RECORDS = frozenset({"audit_auditentry", "otp_totp_totpdevice"})


def r(*statuses: int) -> tuple[int, ...]:
    assert len(statuses) == len(ROLES)
    return statuses


# Shorthands for common rows.
OPS_ONLY = r(401, 401, 403, 403, 200, 403, 200)
FINANCE_ONLY = r(401, 401, 403, 403, 403, 200, 200)
OPS_FINANCE = r(401, 401, 403, 403, 200, 200, 200)
WORKERS_ONLY = r(401, 401, 200, 200, 403, 403, 403)
EVERYONE = r(200, 200, 200, 200, 200, 200, 200)
SHIFT_BODY = {"starts_at": "2031-03-04T10:00:00Z", "ends_at": "2031-03-04T12:00:00Z", "capacity": 3,
              "language": "en"}
TEMPLATE_BODY = {"weekday": 1, "start_time": "09:00", "duration_minutes": 60, "capacity": 2, "language": "en"}
APPLY_BODY = {"username": "newbie", "password": "a-long-enough-password-1", "email": "newbie@example.com",
              "full_name": "New Bie", "country": "PT", "timezone": "Europe/Lisbon", "languages": ["en"],
              "skills": ["general"]}
TICKET_BODY = {"name": "Ana", "email": "ana@example.com", "language": "en", "topic": "general", "message": "Hi"}
RATE_CARD = {"currency": "eur", "base_per_case": 500, "csat_bonus": 100, "hold_hours": 72, "minimum_payout": 2000}
RANGE = "from=2026-11-01&to=2026-11-30"

# (method, route as the URLconf spells it) -> Row. Statuses in ROLES order:
#          anonymous customer worker_a worker_b ops finance admin
MATRIX: dict[tuple[str, str], Row] = {
    ("get", "api/v1/auth/me/"): Row("/api/v1/auth/me/", r(401, 401, 200, 200, 200, 200, 200)),
    ("post", "api/v1/auth/token/"): Row("/api/v1/auth/token/", r(400, 400, 400, 400, 400, 400, 400),
                                        {"username": "nobody", "password": "wrong"}, records=SIGN_IN_RECORDS),
    ("post", "api/v1/auth/logout/"): Row("/api/v1/auth/logout/", r(401, 401, 204, 204, 204, 204, 204), {}),
    ("post", "api/v1/auth/2fa/setup/"): Row("/api/v1/auth/2fa/setup/", r(401, 401, 403, 403, 200, 200, 200), {}),
    ("post", "api/v1/auth/2fa/confirm/"): Row("/api/v1/auth/2fa/confirm/", r(401, 401, 403, 403, 401, 401, 401),
                                              {"otp": "000000"}, records=WRONG_CODE_RECORDS),
    ("post", "api/v1/auth/unlock/"): Row("/api/v1/auth/unlock/", OPS_ONLY, {"username": "nobody"}),
    ("get", "api/v1/auth/locked/"): Row("/api/v1/auth/locked/", OPS_ONLY),
    ("post", "api/v1/workers/applications/"): Row("/api/v1/workers/applications/",
                                                  r(201, 201, 201, 201, 201, 201, 201), APPLY_BODY),
    ("get", "api/v1/workers/"): Row("/api/v1/workers/", OPS_ONLY),
    ("get", "api/v1/workers/me/"): Row("/api/v1/workers/me/", WORKERS_ONLY),
    ("get", "api/v1/workers/me/export/"): Row("/api/v1/workers/me/export/", WORKERS_ONLY),
    # A wrong password: the deletion is refused (403 password_incorrect) and nothing changes.
    ("delete", "api/v1/workers/me/"): Row("/api/v1/workers/me/", r(401, 401, 403, 403, 403, 403, 403),
                                          {"password": "not-the-password"}),
    ("get", "api/v1/audit/"): Row("/api/v1/audit/", OPS_ONLY),
    ("get", "api/v1/workers/me/notices/"): Row("/api/v1/workers/me/notices/", WORKERS_ONLY),
    ("post", "api/v1/workers/me/notices/"): Row("/api/v1/workers/me/notices/", WORKERS_ONLY, {}),
    ("get", "api/v1/workers/me/assessment/"): Row("/api/v1/workers/me/assessment/",
                                                  r(401, 401, 200, 200, 403, 403, 403)),
    ("post", "api/v1/workers/me/assessment/"): Row("/api/v1/workers/me/assessment/",
                                                   r(401, 401, 409, 409, 403, 403, 403), {"answers": {}}),
    ("get", "api/v1/workers/<int:worker_id>/"): Row("/api/v1/workers/{worker_a}/", r(401, 401, 200, 404, 200, 404, 200),
                                                    missing="/api/v1/workers/{missing}/"),
    ("get", "api/v1/workers/<int:worker_id>/events/"): Row("/api/v1/workers/{worker_a}/events/", OPS_ONLY),
    ("post", "api/v1/workers/<int:worker_id>/approve/"): Row("/api/v1/workers/{applicant}/approve/", OPS_ONLY, {}),
    ("post", "api/v1/workers/<int:worker_id>/reject/"): Row("/api/v1/workers/{applicant}/reject/", OPS_ONLY,
                                                            {"reason": "No."}),
    ("post", "api/v1/workers/<int:worker_id>/suspend/"): Row("/api/v1/workers/{worker_b}/suspend/", OPS_ONLY,
                                                             {"reason": "No."}),
    ("get", "api/v1/shift-templates/"): Row("/api/v1/shift-templates/", OPS_ONLY),
    ("post", "api/v1/shift-templates/"): Row("/api/v1/shift-templates/", r(401, 401, 403, 403, 201, 403, 201),
                                             TEMPLATE_BODY),
    ("post", "api/v1/shift-templates/<int:template_id>/deactivate/"): Row(
        "/api/v1/shift-templates/{template}/deactivate/", OPS_ONLY, {}),
    ("get", "api/v1/shifts/"): Row("/api/v1/shifts/", r(401, 401, 200, 200, 200, 200, 200)),
    ("post", "api/v1/shifts/"): Row("/api/v1/shifts/", r(401, 401, 403, 403, 201, 403, 201), SHIFT_BODY),
    ("get", "api/v1/shifts/mine/"): Row("/api/v1/shifts/mine/", WORKERS_ONLY),
    ("get", "api/v1/shifts/<int:shift_id>/"): Row("/api/v1/shifts/{open_shift}/", r(401, 401, 200, 200, 200, 404, 200),
                                                     missing="/api/v1/shifts/{missing}/"),
    ("patch", "api/v1/shifts/<int:shift_id>/"): Row("/api/v1/shifts/{open_shift}/", OPS_ONLY, {"capacity": 12}),
    ("post", "api/v1/shifts/<int:shift_id>/cancel/"): Row("/api/v1/shifts/{open_shift}/cancel/", OPS_ONLY,
                                                          {"reason": "Quiet day."}),
    ("post", "api/v1/shifts/<int:shift_id>/waitlist/"): Row("/api/v1/shifts/{open_shift}/waitlist/",
                                                            r(401, 401, 409, 409, 403, 403, 403), {}),
    ("delete", "api/v1/shifts/<int:shift_id>/waitlist/"): Row("/api/v1/shifts/{open_shift}/waitlist/",
                                                              r(401, 401, 409, 409, 403, 403, 403)),
    ("post", "api/v1/shifts/<int:shift_id>/claim/"): Row("/api/v1/shifts/{open_shift}/claim/",
                                                         r(401, 401, 201, 201, 403, 403, 403), {}),
    ("post", "api/v1/shifts/<int:shift_id>/release/"): Row("/api/v1/shifts/{shift_a}/release/",
                                                           r(401, 401, 409, 409, 403, 403, 403), {}),
    ("post", "api/v1/shifts/<int:shift_id>/check-in/"): Row("/api/v1/shifts/{shift_a}/check-in/",
                                                            r(401, 401, 200, 409, 403, 403, 403), {}),
    ("post", "api/v1/shifts/<int:shift_id>/check-out/"): Row("/api/v1/shifts/{shift_a}/check-out/",
                                                             r(401, 401, 200, 409, 403, 403, 403), {}),
    ("get", "api/v1/tickets/"): Row("/api/v1/tickets/", r(401, 401, 200, 200, 200, 200, 200)),
    ("post", "api/v1/tickets/"): Row("/api/v1/tickets/", r(201, 201, 201, 201, 201, 201, 201), TICKET_BODY),
    ("get", "api/v1/tickets/live-board/"): Row("/api/v1/tickets/live-board/", OPS_ONLY),
    ("get", "api/v1/tickets/canned-responses/"): Row("/api/v1/tickets/canned-responses/",
                                                     r(401, 401, 200, 200, 200, 403, 200)),
    ("get", "api/v1/tickets/<int:pk>/"): Row("/api/v1/tickets/{ticket}/", r(401, 404, 200, 404, 200, 404, 200),
                                             missing="/api/v1/tickets/{missing}/"),
    ("get", "api/v1/tickets/<int:pk>/messages/"): Row("/api/v1/tickets/{ticket}/messages/",
                                                      r(401, 404, 200, 404, 200, 404, 200),
                                                      missing="/api/v1/tickets/{missing}/messages/"),
    ("post", "api/v1/tickets/<int:pk>/messages/"): Row("/api/v1/tickets/{ticket}/messages/",
                                                       r(401, 404, 201, 404, 201, 404, 201),
                                                       {"body": "hello", "client_id": "m-1"},
                                                       missing="/api/v1/tickets/{missing}/messages/"),
    ("post", "api/v1/tickets/<int:pk>/resolve/"): Row("/api/v1/tickets/{ticket}/resolve/",
                                                      r(401, 401, 200, 404, 200, 404, 200), {"resolution": "Done."},
                                                      missing="/api/v1/tickets/{missing}/resolve/"),
    ("post", "api/v1/tickets/<int:pk>/transfer/"): Row("/api/v1/tickets/{ticket}/transfer/",
                                                       r(401, 401, 200, 404, 200, 404, 200),
                                                       {"to_worker": None, "reason": "Other shift."},
                                                       missing="/api/v1/tickets/{missing}/transfer/"),
    ("post", "api/v1/tickets/<int:pk>/rating/"): Row("/api/v1/tickets/{ticket}/rating/",
                                                     r(401, 404, 403, 404, 403, 404, 403), {"score": 5},
                                                     missing="/api/v1/tickets/{missing}/rating/"),
    ("post", "api/v1/tickets/<int:pk>/reopen/"): Row("/api/v1/tickets/{ticket}/reopen/",
                                                     r(401, 404, 403, 404, 403, 404, 403), {},
                                                     missing="/api/v1/tickets/{missing}/reopen/"),
    ("get", "api/v1/tickets/<int:pk>/history/"): Row("/api/v1/tickets/{ticket}/history/",
                                                     r(401, 401, 200, 404, 200, 404, 200),
                                                     missing="/api/v1/tickets/{missing}/history/"),
    ("get", "api/v1/tickets/<int:pk>/transfer-targets/"): Row("/api/v1/tickets/{ticket}/transfer-targets/",
                                                              r(401, 401, 200, 404, 200, 404, 200),
                                                              missing="/api/v1/tickets/{missing}/transfer-targets/"),
    ("get", "api/v1/payouts/"): Row("/api/v1/payouts/", r(401, 401, 200, 200, 403, 200, 200)),
    ("get", "api/v1/payouts/rate-card/"): Row("/api/v1/payouts/rate-card/", FINANCE_ONLY),
    ("put", "api/v1/payouts/rate-card/"): Row("/api/v1/payouts/rate-card/", FINANCE_ONLY, RATE_CARD),
    ("get", "api/v1/payouts/rate-card/history/"): Row("/api/v1/payouts/rate-card/history/", FINANCE_ONLY),
    ("get", "api/v1/payouts/balance/"): Row("/api/v1/payouts/balance/", r(401, 401, 200, 200, 403, 400, 400)),
    ("get", "api/v1/payouts/earnings/"): Row("/api/v1/payouts/earnings/", r(401, 401, 200, 200, 403, 200, 200)),
    ("get", "api/v1/payouts/runs/"): Row("/api/v1/payouts/runs/", FINANCE_ONLY),
    ("post", "api/v1/payouts/runs/"): Row("/api/v1/payouts/runs/", r(401, 401, 403, 403, 403, 202, 202), {}),
    ("get", "api/v1/payouts/runs/<int:run_id>/"): Row("/api/v1/payouts/runs/{run}/", FINANCE_ONLY),
    ("post", "api/v1/payouts/stripe/webhook/"): Row("/api/v1/payouts/stripe/webhook/",
                                                    r(400, 400, 400, 400, 400, 400, 400), {"id": "evt_1"}),
    ("post", "api/v1/workers/me/payout-account/"): Row("/api/v1/workers/me/payout-account/",
                                                       r(401, 401, 200, 200, 403, 403, 403), {}),
    ("get", "api/v1/reports/operations/"): Row(f"/api/v1/reports/operations/?{RANGE}", OPS_FINANCE),
    ("get", "api/v1/reports/payouts/"): Row(f"/api/v1/reports/payouts/?{RANGE}", FINANCE_ONLY),
    ("get", "api/v1/reports/payouts/breakdown/"): Row(f"/api/v1/reports/payouts/breakdown/?{RANGE}&by=day",
                                                      FINANCE_ONLY),
    ("get", "api/v1/reports/payouts/workers/<int:worker_id>/"): Row(
        f"/api/v1/reports/payouts/workers/{{worker_a}}/?{RANGE}", FINANCE_ONLY),
    ("get", "api/v1/reports/earnings/"): Row(f"/api/v1/reports/earnings/?{RANGE}", FINANCE_ONLY),
    ("get", "api/v1/reports/annual-earnings/"): Row("/api/v1/reports/annual-earnings/?year=2026", FINANCE_ONLY),
    ("post", "api/v1/reports/exports/"): Row("/api/v1/reports/exports/", r(401, 401, 403, 403, 403, 202, 202),
                                             {"kind": "earnings", "from": "2026-11-01", "to": "2026-11-30"}),
    ("get", "api/v1/reports/exports/<str:export_id>/"): Row("/api/v1/reports/exports/{export}/",
                                                            r(401, 401, 403, 403, 403, 200, 404),
                                                            missing="/api/v1/reports/exports/{missing_export}/"),
    ("get", "api/v1/reports/exports/<str:export_id>/download/"): Row(
        "/api/v1/reports/exports/{export}/download/", r(401, 401, 403, 403, 403, 200, 404),
        missing="/api/v1/reports/exports/{missing_export}/download/"),
    ("get", "api/v1/reports/reconciliation/"): Row(f"/api/v1/reports/reconciliation/?{RANGE}", FINANCE_ONLY),
    ("get", "api/v1/schema/"): Row("/api/v1/schema/", EVERYONE),
    ("get", "api/v1/docs/"): Row("/api/v1/docs/", EVERYONE),
}


def api_routes() -> list[tuple[str, str]]:
    """(method, route) for every API endpoint the URLconf serves, walked with Django's public API."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), pattern

    routes = []
    for route, pattern in walk(get_resolver().url_patterns):
        if not route.startswith("api/v1/"):
            continue
        view_class = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
        if view_class is not None:
            methods = [m for m in METHODS if hasattr(view_class, m)]
        else:  # a function view: the methods it allows (require_POST and the like), else POST
            methods = ["post"]
        routes += [(method, route) for method in methods]
    return routes


def database_state(exempt: frozenset[str] = frozenset()) -> str:
    """Every row of every Shiftline table (not Django's sessions, nor `exempt`), as one digest per table."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN "
                       "('django_session', 'django_migrations') ORDER BY tablename")
        tables = [name for (name,) in cursor.fetchall() if name not in exempt]
        parts = [f"SELECT '{t}', (SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "
                 f"FROM {connection.ops.quote_name(t)} x)" for t in tables]
        cursor.execute(" UNION ALL ".join(parts))
        return json.dumps(cursor.fetchall())


@pytest.fixture
def world(db, settings, tmp_path, stripe_sandbox):
    settings.RATELIMIT_ENABLE = False
    settings.VAR_DIR = tmp_path
    worker_a, worker_b = on_shift_worker(connected=False), on_shift_worker(connected=False)
    ticket = TicketFactory(status="assigned", assigned_worker=worker_a, assigned_claim=worker_a.claim)
    other_ticket = TicketFactory()
    users = {"worker_a": worker_a.user, "worker_b": worker_b.user, "ops": StaffFactory(role="ops"),
             "finance": StaffFactory(role="finance"), "admin": StaffFactory(role="admin")}
    clients: dict[str, APIClient] = {"anonymous": APIClient(), "customer": APIClient()}
    clients["customer"].credentials(HTTP_X_TICKET_TOKEN=other_ticket.token)
    for role, user in users.items():
        clients[role] = APIClient()
        clients[role].credentials(HTTP_AUTHORIZATION=f"Token {api_token_for(user)}")
    from payouts.models import PayoutRun

    template = clients["ops"].post("/api/v1/shift-templates/", TEMPLATE_BODY, format="json").json()
    export = clients["finance"].post("/api/v1/reports/exports/", {"kind": "earnings", "from": "2026-11-01",
                                                                  "to": "2026-11-30"}, format="json").json()
    ids = {
        "worker_a": worker_a.pk, "worker_b": worker_b.pk, "applicant": WorkerFactory(status="applied").pk,
        "ticket": ticket.pk, "template": template["id"], "open_shift": ShiftFactory().pk,
        "shift_a": worker_a.claim.shift_id, "run": PayoutRun.objects.create().pk, "export": export["id"],
        "missing": NONEXISTENT, "missing_export": "0" * len(export["id"]),
    }
    return clients, ids


def call(client: APIClient, method: str, path: str, body: dict | None):
    if method == "get":
        return client.get(path)
    return getattr(client, method)(path, body if body is not None else {}, format="json")


def answer(response) -> tuple[int, str]:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, content.decode(errors="replace")


def attempt(client: APIClient, method: str, path: str, body: dict | None,
            exempt: frozenset[str] = frozenset()) -> tuple[int, str, bool]:
    """(status, body, whether a refusal changed the database), all rolled back afterwards."""
    outcome: tuple[int, str, bool] = (0, "", False)
    try:
        with transaction.atomic():
            before = database_state(exempt)
            status, content = answer(call(client, method, path, body))
            changed = status >= 400 and database_state(exempt) != before
            outcome = (status, content, changed)
            raise Rollback
    except Rollback:
        pass
    return outcome


@pytest.mark.django_db
def test_every_api_endpoint_answers_each_caller_as_api_md_says(world):
    clients, ids = world
    routes = api_routes()
    assert sorted(set(routes) - set(MATRIX)) == [], "endpoints without a row in the permission matrix"
    assert sorted(set(MATRIX) - set(routes)) == [], "rows for endpoints that no longer exist"

    wrong, changed, leaks = [], [], []
    for (method, route), row in sorted(MATRIX.items()):
        path = row.path.format(**ids)
        for role, expected in zip(ROLES, row.statuses, strict=True):
            status, content, refused_but_changed = attempt(clients[role], method, path, row.body, row.records)
            if status != expected:
                wrong.append(f"{method.upper()} {route} as {role}: {status} (expected {expected}) {content[:120]}")
            if refused_but_changed:
                changed.append(f"{method.upper()} {route} as {role}: refused with {status} yet changed the database")
            if status == 404 and row.missing:
                missing = attempt(clients[role], method, row.missing.format(**ids), row.body)
                if (missing[0], missing[1]) != (status, content):
                    leaks.append(f"{method.upper()} {route} as {role}: hidden {status} {content[:80]} vs "
                                 f"nonexistent {missing[0]} {missing[1][:80]}")
    assert wrong == [], "\n".join(wrong)
    assert changed == [], "\n".join(changed)
    assert leaks == [], "\n".join(leaks)
