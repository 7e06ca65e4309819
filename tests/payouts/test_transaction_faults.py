"""Conflicts injected for real into the money-moving transactions: a PostgreSQL trigger aborts
the statement with `40001` (serialization_failure) or `40P01` (deadlock_detected), as PostgreSQL
does when two transactions collide, a set number of times. The service retries the whole
transaction and the money moves once. The trigger counts its firings with a sequence, which a
rollback does not undo."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from payouts import earnings, ledger, runs, selectors, stripe_gateway
from payouts.models import JournalKind, JournalTransaction, Payout

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("payouts_inline")]


@pytest.fixture
def inject_fault():
    """`inject_fault(table, event, sqlstate, times)`: the next `times` statements of `event`
    (INSERT/UPDATE) on `table` fail with `sqlstate`; returns a function giving how many fired."""
    installed: list[tuple[str, str]] = []

    def install(table: str, event: str, sqlstate: str, times: int):
        name = f"test_fault_{len(installed)}"
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE SEQUENCE {name}_seq")
            cursor.execute(f"""
                CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF nextval('{name}_seq') <= {times} THEN
                        RAISE EXCEPTION 'injected fault' USING ERRCODE = '{sqlstate}';
                    END IF;
                    RETURN NULL;
                END $$""")
            cursor.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} "
                           f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()")
        installed.append((name, table))

        def fired() -> int:
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT last_value, is_called FROM {name}_seq")
                value, called = cursor.fetchone()
            return value if called else 0

        return fired

    yield install
    with connection.cursor() as cursor:
        for name, table in installed:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            cursor.execute(f"DROP FUNCTION IF EXISTS {name}()")
            cursor.execute(f"DROP SEQUENCE IF EXISTS {name}_seq")


def test_settlement_aborted_by_serialization_failures_is_retried_and_settles_once(worker, earn, inject_fault):
    earn(worker, cases=3, settled=False)
    fired = inject_fault("payouts_earning", "UPDATE", "40001", times=2)

    settled = earnings.earnings_settle(now=timezone.now() + dt.timedelta(days=4))

    assert settled == 3
    assert fired() == 3  # two aborted attempts, then the one that committed
    assert selectors.balance_for_worker(worker)["available"] == 1500
    assert JournalTransaction.objects.filter(kind=JournalKind.SETTLE).count() == 1
    assert ledger.ledger_verify().ok


def test_payout_run_aborted_by_deadlocks_is_retried_and_pays_once(stripe_sandbox, ready_worker_factory, earn,
                                                                 inject_fault):
    payees = [ready_worker_factory() for _ in range(2)]
    for payee in payees:
        earn(payee, cases=4)
    fired = inject_fault("payouts_payout", "UPDATE", "40P01", times=3)
    run = runs.payout_run_create()

    finished = runs.payout_run_execute(run_id=run.pk)

    assert finished.status == "completed"
    assert fired() > 3
    assert sorted(Payout.objects.values_list("worker_id", "status", "amount")) == [
        (payees[0].pk, "paid", 2000), (payees[1].pk, "paid", 2000)]
    assert sorted(t["destination"] for t in stripe_sandbox.transfers()) == sorted(p.stripe_account_id for p in payees)
    assert ledger.ledger_verify().ok


def test_webhook_aborted_by_a_serialization_failure_is_retried_and_reverses_once(
        stripe_sandbox, ready_worker_factory, earn, signed_post, inject_fault):
    payee = ready_worker_factory()
    earn(payee, cases=4)
    runs.payout_run_execute(run_id=runs.payout_run_create().pk)
    payout = Payout.objects.get()
    stripe_gateway.stripe_client().v1.transfers.reversals.create(payout.stripe_transfer_id, params={"amount": 800})
    event = stripe_gateway.stripe_client().v1.events.list(params={"type": "transfer.reversed"}).data[0].to_dict()
    fired = inject_fault("payouts_journalline", "INSERT", "40001", times=2)

    response = signed_post(event)

    assert response.status_code == 200
    assert fired() == 3
    payout.refresh_from_db()
    assert payout.reversed_amount == 800
    assert JournalTransaction.objects.filter(kind=JournalKind.PAYOUT_REVERSED).count() == 1
    assert selectors.balance_for_worker(payee)["available"] == 800
    assert ledger.ledger_verify().ok


def _database_client_ports(root_pid: int) -> list[int]:
    """Local ports of the PostgreSQL connections held by a process and its children (the Celery
    worker's), so that only its connections are killed, never this test process's own."""
    import psutil

    server_port = int(connection.settings_dict.get("PORT") or 5432)
    root = psutil.Process(root_pid)
    ports = []
    for process in [root, *root.children(recursive=True)]:
        try:
            ports += [c.laddr.port for c in process.net_connections(kind="tcp")
                      if c.raddr and c.raddr.port == server_port]
        except psutil.NoSuchProcess:
            continue
    return ports


def test_database_connections_killed_mid_run_the_run_resumes_and_pays_once(stripe_sandbox, ready_worker_factory,
                                                                           earn):
    """PostgreSQL's side of a restart, on the test database only: every connection of the Celery
    worker is terminated (`pg_terminate_backend`) while the run is between transfers, three times
    over a second. The shared server itself is not restarted (other test runs use it)."""
    import time

    from marketplace.celery import app
    from payouts.models import PayoutRun
    from tests.servers import CeleryWorker

    payees = [ready_worker_factory() for _ in range(4)]
    for payee in payees:
        earn(payee, cases=4)
    stripe_sandbox.fail(path="/v1/transfers", mode="delay", seconds=0.7, count=1000)
    celery = CeleryWorker(STRIPE_API_BASE=stripe_sandbox.url, PAYOUT_SEND_CONCURRENCY="1", PAYOUT_SEND_CHUNK="1")
    celery.wait_for_log("ready.")
    run = runs.payout_run_create()
    with pytest.warns(Warning):  # send_task always goes to the broker, even in the eager test settings
        app.send_task("payouts.run_execute", args=[run.pk])

    deadline = time.monotonic() + 60
    while len(stripe_sandbox.transfers()) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    killed = 0
    for _ in range(3):
        ports = _database_client_ports(celery.proc.pid)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND client_port = ANY(%s)", [ports])
            killed += cursor.fetchone()[0]
        time.sleep(0.4)
    paid_when_killed = Payout.objects.filter(status="paid").count()

    deadline = time.monotonic() + 120
    while PayoutRun.objects.get(pk=run.pk).status != "completed" and time.monotonic() < deadline:
        time.sleep(0.2)
    celery.stop()

    assert killed >= 1 and paid_when_killed < 4, "the run was not interrupted; nothing was proved"
    assert "terminating connection" in celery.log()
    assert PayoutRun.objects.get(pk=run.pk).status == "completed"
    transfers = stripe_sandbox.transfers(transfer_group=run.transfer_group)
    assert sorted(t["destination"] for t in transfers) == sorted(p.stripe_account_id for p in payees)
    assert sorted(Payout.objects.values_list("stripe_transfer_id", flat=True)) == sorted(t["id"] for t in transfers)
    assert Payout.objects.filter(status="paid").count() == 4
    assert ledger.ledger_verify().ok


def test_postgres_restarted_mid_run_the_run_resumes_and_pays_once(stripe_sandbox, ready_worker_factory, earn):
    """A real restart: the committed data is copied into a PostgreSQL cluster of this test's own,
    a Celery worker runs the payout run against it, and the server is restarted (fast shutdown)
    while transfers are being sent. The run resumes and every worker is paid exactly once."""
    import subprocess
    import sys
    import time

    import psycopg

    from marketplace.celery import app
    from tests.servers import ROOT, CeleryWorker, PrivatePostgres, database_url, server_env

    payees = [ready_worker_factory() for _ in range(4)]
    for payee in payees:
        earn(payee, cases=4)
    run = runs.payout_run_create()
    postgres = PrivatePostgres()
    try:
        postgres.copy_database(database_url())

        def run_status() -> str:
            try:
                with psycopg.connect(postgres.url, connect_timeout=2) as conn:
                    return conn.execute("SELECT status FROM payouts_payoutrun WHERE id = %s", [run.pk]).fetchone()[0]
            except psycopg.OperationalError:
                return "unreachable"

        stripe_sandbox.fail(path="/v1/transfers", mode="delay", seconds=0.7, count=1000)
        celery = CeleryWorker(DATABASE_URL=postgres.url, STRIPE_API_BASE=stripe_sandbox.url,
                              PAYOUT_SEND_CONCURRENCY="1", PAYOUT_SEND_CHUNK="1")
        celery.wait_for_log("ready.")
        with pytest.warns(Warning):  # send_task always goes to the broker, even in the eager test settings
            app.send_task("payouts.run_execute", args=[run.pk])
        deadline = time.monotonic() + 60
        while len(stripe_sandbox.transfers()) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        postgres.restart()
        with psycopg.connect(postgres.url) as conn:
            paid_after_restart = conn.execute("SELECT count(*) FROM payouts_payout WHERE status = 'paid'").fetchone()[0]

        deadline = time.monotonic() + 120
        while run_status() != "completed" and time.monotonic() < deadline:
            time.sleep(0.3)
        celery.stop()

        assert paid_after_restart < 4, "the run finished before the restart; nothing was proved"
        assert "Retry in" in celery.log()  # the task lost its connection and was retried
        assert run_status() == "completed"
        transfers = stripe_sandbox.transfers(transfer_group=run.transfer_group)
        assert sorted(t["destination"] for t in transfers) == sorted(p.stripe_account_id for p in payees)
        with psycopg.connect(postgres.url) as conn:
            rows = conn.execute("SELECT status, stripe_transfer_id FROM payouts_payout ORDER BY id").fetchall()
        assert [status for status, _ in rows] == ["paid"] * 4
        assert sorted(transfer for _, transfer in rows) == sorted(t["id"] for t in transfers)
        verify = subprocess.run([sys.executable, "manage.py", "verify_ledger"], cwd=ROOT, capture_output=True,
                                text=True, timeout=120, env=server_env(DATABASE_URL=postgres.url))
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        postgres.stop()
