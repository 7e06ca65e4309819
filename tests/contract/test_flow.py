"""The whole of Shiftline, end to end, the way an operator runs it and clients use it (API.md).

A worker applies, ops approve, ops publish a shift, the worker claims it, checks in, onboards to
Stripe and opens the console socket; a customer opens a ticket, is routed to the worker, both
chat over websockets (seq, ack, client_id dedup, `after=SEQ` replay) and HTTP; the worker resolves,
the customer rates 5; finance settles and pays out through the Stripe sandbox and reads reports.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json

import httpx
import pytest

from tests.contract.helpers import (
    Api,
    apply,
    connect,
    create_shift,
    error,
    frames,
    iso,
    iso_or_none,
    money,
    ok,
    open_ticket,
    page,
    recv,
    recv_type,
    staff,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TICKET_FIELDS = {"id", "status", "language", "topic", "assigned_worker", "created_at", "first_response_at",
                 "resolved_at", "rating"}
WORKER_FIELDS = {"id", "username", "full_name", "status", "languages", "skills", "quality_score",
                 "reliability_score", "payout_account_status", "stripe_account_id"}
MESSAGE_FIELDS = {"type", "ticket", "seq", "sender", "body", "client_id", "sent_at", "internal"}


def check_ticket(ticket: dict) -> None:
    assert TICKET_FIELDS <= set(ticket), ticket
    assert ticket["status"] in ("queued", "assigned", "resolved", "abandoned"), ticket
    iso(ticket["created_at"])
    iso_or_none(ticket["first_response_at"])
    iso_or_none(ticket["resolved_at"])


def check_message(event: dict, **expected) -> None:
    assert MESSAGE_FIELDS <= set(event), event
    assert event["type"] == "message"
    iso(event["sent_at"])
    for name, value in expected.items():
        assert event[name] == value, (name, event)


def test_worker_customer_and_finance_end_to_end(stack):
    url = stack.url
    ops, finance = staff(url, "ops", via_login=True), staff(url, "finance", via_login=True)

    # Finance sets the rate card: EUR 5.00 a case, 1.00 CSAT bonus, no hold, minimum payout 1.00.
    card = ok(finance.put("/api/v1/payouts/rate-card/", {"currency": "eur", "base_per_case": 500, "csat_bonus": 100,
                                                         "hold_hours": 0, "minimum_payout": 100}))
    assert {k: card[k] for k in ("currency", "base_per_case", "csat_bonus", "hold_hours", "minimum_payout")} == {
        "currency": "eur", "base_per_case": 500, "csat_bonus": 100, "hold_hours": 0, "minimum_payout": 100}
    assert ok(finance.get("/api/v1/payouts/rate-card/"))["base_per_case"] == 500

    # A worker applies and signs in.
    applied, worker = apply(url, via_login=True, languages=["en", "pt"], skills=["general", "payments"])
    assert WORKER_FIELDS <= set(applied), applied
    assert applied["languages"] == ["en", "pt"] and sorted(applied["skills"]) == ["general", "payments"]
    assert applied["payout_account_status"] == "none"
    me = ok(worker.get("/api/v1/workers/me/"))
    assert me["id"] == applied["id"] and me["status"] == "applied"

    # Ops publish a shift starting now-ish; the unapproved worker may not claim it.
    shift = create_shift(ops, start_in_minutes=-2, hours=2, capacity=3, language="en", skills=["payments"],
                         rate_multiplier="1.50")
    iso(shift["starts_at"]), iso(shift["ends_at"])
    assert shift["capacity"] == 3 and shift["language"] == "en" and shift["skills"] == ["payments"]
    error(worker.post(f"/api/v1/shifts/{shift['id']}/claim/"), 403, "worker_not_approved")

    # Ops see the application and approve it.
    listed = page(ok(ops.get("/api/v1/workers/", params={"status": "applied"})))
    assert applied["id"] in [w["id"] for w in listed]
    approved = ok(ops.post(f"/api/v1/workers/{applied['id']}/approve/", {}))
    assert approved["status"] == "approved" and WORKER_FIELDS <= set(approved)
    assert ok(ops.get(f"/api/v1/workers/{applied['id']}/"))["status"] == "approved"

    # The worker finds the shift, claims it (201), checks in (200).
    visible = page(ok(worker.get("/api/v1/shifts/", params={"available": "true"})))
    assert shift["id"] in [s["id"] for s in visible]
    claim = ok(worker.post(f"/api/v1/shifts/{shift['id']}/claim/"), 201)
    assert claim["shift"] == shift["id"] and claim["worker"] == applied["id"], claim
    assert ok(worker.get(f"/api/v1/shifts/{shift['id']}/"))["seats_taken"] == 1
    error(worker.post(f"/api/v1/shifts/{shift['id']}/claim/"), 409, "already_claimed")
    checked_in = ok(worker.post(f"/api/v1/shifts/{shift['id']}/check-in/"))
    iso(checked_in["checked_in_at"])

    # Stripe Connect onboarding: opening the account link completes it (account.updated webhook).
    link = ok(worker.post("/api/v1/workers/me/payout-account/"))
    assert link["onboarding_url"].startswith(stack.sandbox.url), link
    opened = httpx.get(link["onboarding_url"], follow_redirects=False, timeout=30)
    assert opened.status_code in (302, 303), opened.text
    me = wait_for(lambda: (lambda m: m if m["payout_account_status"] == "ready" else None)(
        ok(worker.get("/api/v1/workers/me/"))), what="payout account ready")
    assert me["stripe_account_id"].startswith("acct_"), me

    ticket: dict = {}

    async def chat() -> None:
        agent_uri = f"{stack.ws_url}/ws/agent/?token={worker.token}"
        async with connect(agent_uri) as agent:
            assert await frames(agent, 0.3) == []  # holds nothing yet
            ticket.update(await asyncio.to_thread(open_ticket, url, topic="payments", language="en",
                                                  message="My payout never arrived."))
            assert ticket["status"] == "assigned", ticket
            assert isinstance(ticket["queue_position"], int)
            assert ticket["ws_url"].startswith("ws://") and f"/ws/tickets/{ticket['id']}/" in ticket["ws_url"]
            assigned = await recv_type(agent, "ticket.assigned")
            customer_api = Api(url, ticket_token=ticket["token"])
            detail = await asyncio.to_thread(lambda: ok(customer_api.get(f"/api/v1/tickets/{ticket['id']}/")))
            check_ticket(detail)
            check_ticket(assigned["ticket"])
            assert {k: assigned["ticket"][k] for k in TICKET_FIELDS} == {k: detail[k] for k in TICKET_FIELDS}
            assert detail["assigned_worker"] == applied["id"] and detail["status"] == "assigned"
            assert detail["topic"] == "payments" and detail["language"] == "en" and detail["rating"] is None

            async with connect(f"{ticket['ws_url']}&after=0") as customer:
                first = await recv(customer)
                check_message(first, ticket=ticket["id"], seq=1, sender="customer", body="My payout never arrived.",
                              internal=False)

                # Customer → worker; the sender's own message comes back with its seq (the ack).
                await customer.send(json.dumps({"type": "message", "body": "Order 42", "client_id": "c-1"}))
                ack = await recv_type(customer, "message")
                got = await recv_type(agent, "message")
                check_message(ack, ticket=ticket["id"], seq=2, sender="customer", body="Order 42", client_id="c-1",
                              internal=False)
                assert got == ack

                # A repeated client_id is stored once: the stored message comes back, nothing new.
                await customer.send(json.dumps({"type": "message", "body": "Order 42", "client_id": "c-1"}))
                again = await recv_type(customer, "message")
                assert (again["seq"], again["client_id"]) == (2, "c-1")
                assert await frames(agent, 0.5) == []

                # Typing reaches the other side.
                await customer.send(json.dumps({"type": "typing"}))
                typing = await recv_type(agent, "typing")
                assert typing == {"type": "typing", "ticket": ticket["id"], "sender": "customer"}

                await agent.send(json.dumps({"type": "typing", "ticket": ticket["id"]}))
                typing = await recv_type(customer, "typing")
                assert typing == {"type": "typing", "ticket": ticket["id"], "sender": "worker"}

                # Worker → customer.
                await agent.send(json.dumps({"type": "message", "ticket": ticket["id"], "body": "Checking now",
                                             "client_id": "w-1"}))
                check_message(await recv_type(agent, "message"), seq=3, sender="worker", client_id="w-1")
                check_message(await recv_type(customer, "message"), seq=3, sender="worker", body="Checking now")

                # An internal note: the worker's socket only.
                await agent.send(json.dumps({"type": "message", "ticket": ticket["id"], "body": "VIP customer",
                                             "client_id": "w-2", "internal": True}))
                check_message(await recv_type(agent, "message"), seq=4, internal=True)
                assert await frames(customer, 0.5) == []

            # While the customer is away the worker writes; reconnecting with after=2 replays in order.
            await agent.send(json.dumps({"type": "message", "ticket": ticket["id"], "body": "Found it",
                                         "client_id": "w-3"}))
            check_message(await recv_type(agent, "message"), seq=5)
            async with connect(f"{ticket['ws_url']}&after=2") as customer:
                replay = [await recv(customer), await recv(customer)]
                assert [(e["seq"], e["body"]) for e in replay] == [(3, "Checking now"), (5, "Found it")]
                assert await frames(customer, 0.3) == []

                # Messages over HTTP too: 201 new, 200 for a repeated client_id (nothing stored).
                posted = await asyncio.to_thread(lambda: ok(customer_api.post(
                    f"/api/v1/tickets/{ticket['id']}/messages/", {"body": "Thanks!", "client_id": "c-http"}), 201))
                assert (posted["seq"], posted["sender"], posted["body"]) == (6, "customer", "Thanks!")
                repeated = await asyncio.to_thread(lambda: ok(customer_api.post(
                    f"/api/v1/tickets/{ticket['id']}/messages/", {"body": "Thanks!", "client_id": "c-http"}), 200))
                assert repeated == posted
                check_message(await recv_type(customer, "message"), seq=6, client_id="c-http")
                check_message(await recv_type(agent, "message"), seq=6, client_id="c-http")

                # History: the customer never sees internal notes; staff do.
                mine = await asyncio.to_thread(lambda: page(ok(customer_api.get(
                    f"/api/v1/tickets/{ticket['id']}/messages/", params={"after": 2}))))
                assert [m["seq"] for m in mine] == [3, 5, 6]
                theirs = await asyncio.to_thread(lambda: page(ok(worker.get(
                    f"/api/v1/tickets/{ticket['id']}/messages/", params={"after": 0}))))
                assert [m["seq"] for m in theirs] == [1, 2, 3, 4, 5, 6]
                assert [m["internal"] for m in theirs] == [False, False, False, True, False, False]
                for message in theirs:
                    assert {"seq", "sender", "body", "client_id", "sent_at", "internal"} <= set(message)
                    iso(message["sent_at"])

                # The worker resolves: both sockets are told.
                resolved = await asyncio.to_thread(lambda: ok(worker.post(
                    f"/api/v1/tickets/{ticket['id']}/resolve/", {"resolution": "Payout re-sent."})))
                check_ticket(resolved)
                assert resolved["status"] == "resolved" and resolved["resolved_at"]
                assert await recv_type(agent, "ticket.resolved") == {"type": "ticket.resolved",
                                                                     "ticket": ticket["id"]}
                assert await recv_type(customer, "ticket.resolved") == {"type": "ticket.resolved",
                                                                        "ticket": ticket["id"]}

    asyncio.run(chat())

    customer_api = Api(url, ticket_token=ticket["token"])
    detail = ok(customer_api.get(f"/api/v1/tickets/{ticket['id']}/"))
    assert detail["status"] == "resolved" and iso(detail["first_response_at"]) <= iso(detail["resolved_at"])

    # The customer rates 5, once.
    rating = customer_api.post(f"/api/v1/tickets/{ticket['id']}/rating/", {"score": 5, "comment": "Great"})
    assert rating.status_code in (200, 201), rating.text
    assert ok(customer_api.get(f"/api/v1/tickets/{ticket['id']}/"))["rating"] == 5
    error(customer_api.post(f"/api/v1/tickets/{ticket['id']}/rating/", {"score": 4, "comment": ""}), 409)

    # Both see the ticket in their lists.
    assert ticket["id"] in [t["id"] for t in page(ok(worker.get("/api/v1/tickets/", params={"status": "resolved"})))]
    assert ticket["id"] in [t["id"] for t in page(ok(ops.get("/api/v1/tickets/")))]

    # Earnings: 500 × 1.50 case pay + 100 CSAT bonus, through the outbox and the Celery worker.
    def earnings():
        rows = page(ok(finance.get("/api/v1/payouts/earnings/", params={"worker": applied["id"]})))
        return rows if len(rows) == 2 else None

    rows = wait_for(earnings, timeout=30, what="case pay and CSAT bonus earnings")
    for row in rows:
        assert {"id", "worker", "ticket", "amount", "currency", "status", "created_at"} <= set(row), row
        money(row["amount"], row["currency"])
        iso(row["created_at"])
        assert (row["worker"], row["ticket"], row["currency"]) == (applied["id"], ticket["id"], "eur")
        assert row["status"] in ("pending", "available")
    assert sorted(r["amount"] for r in rows) == [100, 750]
    own = page(ok(worker.get("/api/v1/payouts/earnings/")))
    assert sorted(r["id"] for r in own) == sorted(r["id"] for r in rows)

    balance = ok(worker.get("/api/v1/payouts/balance/"))
    assert set(balance) >= {"currency", "pending", "available", "in_transit", "paid"}
    money(balance["pending"], balance["currency"])
    assert balance["currency"] == "eur" and balance["pending"] + balance["available"] == 850

    # Settle (cron's command), then a payout run: 202, finished, paid at Stripe.
    stack.manage("settle_earnings")
    balance = ok(worker.get("/api/v1/payouts/balance/"))
    assert (balance["pending"], balance["available"], balance["in_transit"], balance["paid"]) == (0, 850, 0, 0)

    started = ok(finance.post("/api/v1/payouts/runs/"), 202)
    assert set(started) >= {"id", "status"}, started
    run = wait_for(lambda: (lambda r: r if r["finished_at"] else None)(
        ok(finance.get(f"/api/v1/payouts/runs/{started['id']}/"))), timeout=40, what="the payout run to finish")
    assert {"id", "status", "started_at", "finished_at", "payouts_count", "total"} <= set(run)
    iso(run["started_at"]), iso(run["finished_at"])
    assert (run["payouts_count"], run["total"]) == (1, 850), run

    payouts = page(ok(finance.get("/api/v1/payouts/", params={"run": started["id"]})))
    assert len(payouts) == 1, payouts
    payout = payouts[0]
    assert {"id", "worker", "amount", "currency", "status", "stripe_transfer_id", "run"} <= set(payout)
    money(payout["amount"], payout["currency"])
    assert (payout["worker"], payout["amount"], payout["currency"], payout["status"], payout["run"]) == (
        applied["id"], 850, "eur", "paid", started["id"]), payout
    assert payout["stripe_transfer_id"].startswith("tr_"), payout
    at_stripe = {t["id"]: t for t in stack.sandbox.transfers()}
    assert at_stripe[payout["stripe_transfer_id"]]["amount"] == 850
    assert at_stripe[payout["stripe_transfer_id"]]["destination"] == me["stripe_account_id"]
    assert [p["id"] for p in page(ok(worker.get("/api/v1/payouts/")))] == [payout["id"]]
    assert [p["id"] for p in page(ok(finance.get("/api/v1/payouts/", params={"worker": applied["id"],
                                                                              "status": "paid"})))] == [payout["id"]]
    balance = ok(worker.get("/api/v1/payouts/balance/"))
    assert (balance["pending"], balance["available"], balance["in_transit"], balance["paid"]) == (0, 0, 0, 850)
    assert {r["status"] for r in page(ok(worker.get("/api/v1/payouts/earnings/")))} == {"paid"}

    # Reports over today (UTC).
    today = dt.datetime.now(dt.UTC).date().isoformat()
    report = ok(finance.get("/api/v1/reports/payouts/", params={"from": today, "to": today}))
    assert set(report) >= {"results", "totals"} and isinstance(report["totals"], dict)
    row = next(r for r in report["results"] if r["worker"] == applied["id"])
    assert set(row) >= {"worker", "worker_name", "cases_resolved", "gross", "bonuses", "voided", "paid",
                        "outstanding"}, row
    assert row["worker_name"] == applied["full_name"] and row["cases_resolved"] == 1

    def amount(value):
        if isinstance(value, dict):
            money(value["amount"], value["currency"])
            return value["amount"]
        money(value, row.get("currency") or report.get("currency"))
        return value

    assert (amount(row["gross"]), amount(row["bonuses"]), amount(row["voided"]), amount(row["paid"]),
            amount(row["outstanding"])) == (850, 100, 0, 850, 0), row

    as_csv = finance.get("/api/v1/reports/payouts/", params={"from": today, "to": today, "format": "csv"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv"), as_csv.text
    lines = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {"worker", "worker_name", "cases_resolved", "gross", "bonuses", "voided", "paid", "outstanding"} <= set(
        lines[0]), lines[0]
    csv_row = next(r for r in lines if r["worker"] == str(applied["id"]))
    assert (csv_row["cases_resolved"], csv_row["paid"], csv_row["outstanding"]) == ("1", "850", "0"), csv_row

    for reader in (ops, finance):
        operations = ok(reader.get("/api/v1/reports/operations/", params={"from": today, "to": today}))
        assert isinstance(operations, dict) and operations, operations
    # Tickets created, resolved, abandoned; first response and resolution time (median, p90); CSAT
    # average; cost per resolved case (this test's data only: the database is fresh).
    totals = operations["totals"]
    assert (totals["tickets_created"], totals["tickets_resolved"], totals["tickets_abandoned"]) == (1, 1, 0), totals
    for name in ("first_response_median_seconds", "first_response_p90_seconds", "resolution_median_seconds",
                 "resolution_p90_seconds"):
        assert isinstance(totals[name], (int, float)) and totals[name] >= 0, (name, totals)
    assert totals["resolution_median_seconds"] >= totals["first_response_median_seconds"], totals
    assert totals["csat_average"] == 5
    cost = totals["cost_per_resolved_case"]
    if isinstance(cost, dict):
        money(cost["amount"], cost["currency"])
        cost = cost["amount"]
    else:
        money(cost, totals.get("currency") or operations.get("currency"))
    assert cost == 850, totals
    operations_csv = ops.get("/api/v1/reports/operations/", params={"from": today, "to": today, "format": "csv"})
    assert operations_csv.status_code == 200 and operations_csv.headers["content-type"].startswith("text/csv")

    reconciliation = ok(finance.get("/api/v1/reports/reconciliation/", params={"from": today, "to": today}))
    assert reconciliation["mismatches"] == [] and reconciliation["payouts_checked"] == 1, reconciliation

    # The worker ends the shift.
    checked_out = ok(worker.post(f"/api/v1/shifts/{shift['id']}/check-out/"))
    iso(checked_out["checked_out_at"])
