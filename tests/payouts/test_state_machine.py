"""Random sequences of resolve / rate / reopen / settle / run / webhooks, with the money
invariants checked after every step (hypothesis state machine, against the real sandbox)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from kernel.outbox.services import outbox_deliver
from payouts import earnings, ledger, runs, selectors, stripe_connect, stripe_gateway
from payouts.models import Earning, Payout
from tests.factories.payouts import ResolvedTicketFactory, record_rated, record_reopened, record_resolved
from tests.factories.workers import WorkerFactory
from workers.models import Worker


def test_money_invariants_hold_under_random_sequences(db, payouts_inline, stripe_sandbox, ready_worker_factory):
    sandbox = stripe_sandbox

    class Payouts(RuleBasedStateMachine):
        @initialize()
        def setup(self):
            sandbox.reset()
            sandbox.clear_failures()
            # Examples share the test's transaction: earlier examples' workers must not be paid
            # by this example's runs (their sandbox accounts are gone after the reset).
            Worker.objects.update(payout_account_status="none")
            self.workers = [ready_worker_factory(), ready_worker_factory(), WorkerFactory()]
            self.tickets: list[dict] = []  # {ticket, worker, n, resolved}
            self.ready_at_run: dict[int, bool] = {}

        def _deliver(self, event):
            outbox_deliver(event_id=event.pk)

        @rule(worker=st.integers(0, 2), old=st.booleans(), multiplier=st.sampled_from(["1.00", "1.25", "1.50"]))
        def resolve(self, worker, old, multiplier):
            w = self.workers[worker]
            ticket = ResolvedTicketFactory(assigned_worker=w)
            when = timezone.now() - (dt.timedelta(hours=100) if old else dt.timedelta(0))
            self._deliver(record_resolved(ticket, multiplier=multiplier, resolved_at=when))
            self.tickets.append({"ticket": ticket, "n": 1, "resolved": True, "old": old})

        @rule(index=st.integers(0, 50), score=st.integers(1, 5))
        def rate(self, index, score):
            if not self.tickets:
                return
            t = self.tickets[index % len(self.tickets)]
            if t["resolved"]:
                self._deliver(record_rated(t["ticket"], score=score, resolution_n=t["n"]))

        @rule(index=st.integers(0, 50))
        def reopen(self, index):
            if not self.tickets:
                return
            t = self.tickets[index % len(self.tickets)]
            if t["resolved"]:
                self._deliver(record_reopened(t["ticket"], resolution_n=t["n"]))
                t["resolved"] = False

        @rule(index=st.integers(0, 50))
        def resolve_again(self, index):
            if not self.tickets:
                return
            t = self.tickets[index % len(self.tickets)]
            if not t["resolved"]:
                t["n"] += 1
                t["resolved"] = True
                self._deliver(record_resolved(t["ticket"], resolution_n=t["n"]))

        @rule()
        def settle(self):
            earnings.earnings_settle(now=timezone.now() + dt.timedelta(hours=73))

        @rule(failure=st.sampled_from([None, "500_after", "500_before", "429"]))
        def run(self, failure):
            if failure:
                sandbox.fail(path="/v1/transfers", mode=failure, count=1)
            self.ready_at_run = dict(Worker.objects.values_list("pk", "payout_account_status"))
            before = set(Payout.objects.values_list("pk", flat=True))
            run = runs.payout_run_create()
            runs.payout_run_execute(run_id=run.pk)
            for payout in Payout.objects.exclude(pk__in=before):
                assert self.ready_at_run[payout.worker_id] == "ready", "payout without a ready account"
            sandbox.clear_failures()

        @rule(index=st.integers(0, 50), amount=st.integers(1, 5000), duplicate=st.booleans())
        def reverse(self, index, amount, duplicate):
            paid = list(Payout.objects.filter(status="paid", worker__in=self.workers).order_by("pk"))
            if not paid:
                return
            payout = paid[index % len(paid)]
            remaining = payout.amount - payout.reversed_amount
            if remaining <= 0:
                return
            client = stripe_gateway.stripe_client()
            client.v1.transfers.reversals.create(payout.stripe_transfer_id,
                                                 params={"amount": min(amount, remaining)})
            events = [e.to_dict() for e in client.v1.events.list(params={"type": "transfer.reversed", "limit": 100})]
            stripe_connect.stripe_event_handle(event=events[0])
            if duplicate:
                stripe_connect.stripe_event_handle(event=events[0])
                stripe_connect.stripe_event_handle(event=events[-1])  # an old one, out of order

        @rule(worker=st.integers(0, 1), status=st.sampled_from(["ready", "restricted"]))
        def account_changes(self, worker, status):
            w = self.workers[worker]
            sandbox.account_status(w.stripe_account_id, status, sync=False)
            events = stripe_gateway.stripe_client().v1.events.list(params={"type": "account.updated", "limit": 1})
            stripe_connect.stripe_event_handle(event=events.data[0].to_dict())

        @invariant()
        def ledger_balances_and_caches_agree(self):
            report = ledger.ledger_verify()
            assert report.ok, report

        @invariant()
        def every_cent_is_somewhere_once(self):
            for w in getattr(self, "workers", []):
                balance = selectors.balance_for_worker(w)
                earned = Earning.objects.filter(worker=w).aggregate(t=Sum("amount"))["t"] or 0
                voided = Earning.objects.filter(worker=w, status="voided").aggregate(t=Sum("amount"))["t"] or 0
                assert balance["paid"] + balance["in_transit"] + balance["available"] + balance["pending"] \
                    == earned - voided
                assert min(balance["paid"], balance["in_transit"], balance["available"], balance["pending"]) >= 0

        @invariant()
        def one_transfer_per_paid_payout(self):
            if not hasattr(self, "workers"):
                return
            transfers = sandbox.transfers()
            payout_ids = [t["metadata"]["payout_id"] for t in transfers]
            assert len(payout_ids) == len(set(payout_ids))
            paid = set(Payout.objects.filter(worker__in=self.workers, status="paid")
                       .values_list("stripe_transfer_id", flat=True))
            assert paid == {t["id"] for t in transfers}

    run_state_machine_as_test(Payouts, settings=settings(
        max_examples=12, stateful_step_count=14, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))
