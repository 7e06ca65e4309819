"""`python manage.py purge_personal_data`: the customer data retention purge (also daily by beat)."""

from django.conf import settings
from django.core.management.base import BaseCommand

from tickets.privacy import customer_data_purge


class Command(BaseCommand):
    help = ("Anonymise the customer name, email and messages of tickets closed more than "
            "CUSTOMER_DATA_RETENTION_DAYS ago. Safe to repeat.")

    def handle(self, *args, **options):
        purged = customer_data_purge()
        self.stdout.write(f"anonymised {purged} tickets closed more than "
                          f"{settings.CUSTOMER_DATA_RETENTION_DAYS} days ago")
