"""`python manage.py settle_earnings`: pending → available where the hold has passed."""

from django.core.management.base import BaseCommand

from payouts.earnings import earnings_settle


class Command(BaseCommand):
    help = "Move pending earnings whose hold has passed to available. Safe to run twice at once."

    def add_arguments(self, parser):
        parser.add_argument("--workers-per-batch", type=int, default=500)

    def handle(self, *args, **options):
        settled = earnings_settle(workers_per_batch=options["workers_per_batch"])
        self.stdout.write(f"settled {settled} earnings")
