"""API.md "Earnings and payouts": exactly-once payouts when Stripe fails after accepting and when
`run_payouts` runs twice at once; a `transfer.reversed` webhook on a paid payout."""

from __future__ import annotations

import asyncio
import concurrent.futures

import httpx
import pytest
from django.conf import settings as django_settings

from tests.contract.helpers import (
    Api,
    connect,
    ok,
    on_shift_worker,
    open_ticket,
    page,
    recv_type,
    staff,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PAYOUT_STATUSES = {"pending", "in_transit", "paid", "failed"}


def earning_worker(stack, ops, finance, cases: int) -> tuple[Api, int]:
    """A ready (onboarded) worker who resolved `cases` tickets; their earnings settled. → (worker, total)."""
    url = stack.url
    worker, _ = on_shift_worker(url, ops)
    link = ok(worker.post("/api/v1/workers/me/payout-account/"))["onboarding_url"]
    assert ok(worker.get("/api/v1/workers/me/"))["payout_account_status"] in ("pending", "none")
    httpx.get(link, follow_redirects=False, timeout=30)
    wait_for(lambda: ok(worker.get("/api/v1/workers/me/"))["payout_account_status"] == "ready",
             what="payout account ready")

    async def work():
        async with connect(f"{stack.ws_url}/ws/agent/?token={worker.token}") as agent:
            for _ in range(cases):
                ticket = await asyncio.to_thread(open_ticket, url)
                await recv_type(agent, "ticket.assigned", skip=("ticket.resolved",))
                ok(await asyncio.to_thread(worker.post, f"/api/v1/tickets/{ticket['id']}/resolve/",
                                           {"resolution": "done"}))

    asyncio.run(work())
    total = 300 * cases
    wait_for(lambda: len(page(ok(worker.get("/api/v1/payouts/earnings/")))) == cases, timeout=30,
             what="case pay earnings")
    stack.manage("settle_earnings")
    assert ok(worker.get("/api/v1/payouts/balance/"))["available"] == total
    return worker, total


def stripe_post(stack, path: str, data: dict | None = None) -> dict:
    response = httpx.post(f"{stack.sandbox.url}{path}", data=data or {}, timeout=30,
                          headers={"Authorization": f"Bearer {django_settings.STRIPE_SECRET_KEY}"})
    assert response.status_code == 200, response.text
    return response.json()


def test_payouts_are_exactly_once_whatever_stripe_and_operators_do(stack):
    url = stack.url
    ops, finance = staff(url, "ops"), staff(url, "finance")
    ok(finance.put("/api/v1/payouts/rate-card/", {"currency": "eur", "base_per_case": 300, "csat_bonus": 0,
                                                  "hold_hours": 0, "minimum_payout": 100}))
    worker, total = earning_worker(stack, ops, finance, cases=2)

    # Stripe accepts the transfer but the answer is lost (500 after), and two operators run
    # `run_payouts` at the same moment: one transfer, one paid payout.
    httpx.post(f"{stack.sandbox.url}/_sandbox/failures", json={"path": "/v1/transfers", "mode": "500_after",
                                                                "count": 1}, timeout=30).raise_for_status()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: stack.manage("run_payouts", timeout=120), range(2)))

    payouts = page(ok(finance.get("/api/v1/payouts/", params={"worker": worker.id})))
    assert len(payouts) == 1, payouts
    payout = payouts[0]
    assert (payout["status"], payout["amount"], payout["currency"]) == ("paid", total, "eur"), payout
    me = ok(worker.get("/api/v1/workers/me/"))
    transfers = [t for t in stack.sandbox.transfers() if t["destination"] == me["stripe_account_id"]]
    assert [(t["id"], t["amount"]) for t in transfers] == [(payout["stripe_transfer_id"], total)], transfers
    balance = ok(worker.get("/api/v1/payouts/balance/"))
    assert (balance["available"], balance["in_transit"], balance["paid"]) == (0, 0, total), balance

    # A run with nothing to pay pays nothing.
    started = ok(finance.post("/api/v1/payouts/runs/"), 202)
    run = wait_for(lambda: (lambda r: r if r["finished_at"] else None)(
        ok(finance.get(f"/api/v1/payouts/runs/{started['id']}/"))), timeout=40, what="the empty run to finish")
    assert (run["payouts_count"], run["total"]) == (0, 0), run
    assert len([t for t in stack.sandbox.transfers() if t["destination"] == me["stripe_account_id"]]) == 1

    # Later, Stripe reverses the transfer (webhook): the payout keeps a documented status.
    stripe_post(stack, f"/v1/transfers/{payout['stripe_transfer_id']}/reversals")

    def reversed_payout():
        current = page(ok(finance.get("/api/v1/payouts/", params={"worker": worker.id})))[0]
        return current if current.get("reversed_amount") == total else None

    current = wait_for(reversed_payout, timeout=20, what="the reversal webhook to be applied")
    assert current["status"] in PAYOUT_STATUSES, current
