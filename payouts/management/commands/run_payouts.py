"""`python manage.py run_payouts`: one payout run, synchronously."""

from django.core.management.base import BaseCommand

from payouts.runs import payout_run_create, payout_run_execute, payout_run_stats


class Command(BaseCommand):
    help = ("Run one payout run now, synchronously. Safe to run twice at once: each worker's money "
            "is moved into one payout under a row lock, and each transfer uses the payout's own "
            "idempotency key.")

    def handle(self, *args, **options):
        run = payout_run_create(trigger="command")
        run = payout_run_execute(run_id=run.pk)
        stats = payout_run_stats(run)
        self.stdout.write(
            f"run {run.pk} {run.status}: {stats['payouts_count']} payouts, {stats['paid_count']} paid, "
            f"{stats['failed_count']} failed, {stats['open_count']} open, total {stats['total']} {run.currency}"
        )
