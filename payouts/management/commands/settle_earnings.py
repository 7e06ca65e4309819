"""`python manage.py settle_earnings`: pending → available where the hold has passed."""

from django.core.management.base import BaseCommand

from payouts.services import earnings_settle


class Command(BaseCommand):
    help = "Move pending earnings whose hold has passed to available. Safe to run twice at once."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args, **options):
        settled = earnings_settle(batch_size=options["batch_size"])
        self.stdout.write(f"settled {settled} earnings")
