from django.core.management.base import BaseCommand, CommandError

from kernel.errors import DomainError
from workers.models import Role
from workers.services.accounts import staff_create


class Command(BaseCommand):
    help = "Create a staff account without prompts: --role ops|finance|admin --username U --password P."

    def add_arguments(self, parser):
        parser.add_argument("--role", required=True, choices=[Role.OPS, Role.FINANCE, Role.ADMIN])
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--email", default="")

    def handle(self, *args, role, username, password, email, **options):
        try:
            user = staff_create(role=role, username=username, password=password, email=email)
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        self.stdout.write(self.style.SUCCESS(f"Created {user.role} account {user.username!r} (id {user.pk})."))
