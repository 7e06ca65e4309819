from django.core.management.base import BaseCommand, CommandError

from kernel.errors import DomainError
from workers.models import Role
from workers.services.accounts import staff_create


class Command(BaseCommand):
    help = ("Create a staff account without prompts: --role ops|finance|admin --username U --password P "
            "[--email E] [--totp-secret BASE32].")

    def add_arguments(self, parser):
        parser.add_argument("--role", required=True, choices=[Role.OPS, Role.FINANCE, Role.ADMIN])
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--email", default="")
        parser.add_argument("--totp-secret", default="", dest="totp_secret",
                            help="base32 TOTP secret (RFC 6238, SHA-1, 6 digits, 30 s): a confirmed two-factor device")

    def handle(self, *args, role, username, password, email, totp_secret, **options):
        try:
            user = staff_create(role=role, username=username, password=password, email=email,
                                totp_secret=totp_secret)
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        self.stdout.write(self.style.SUCCESS(f"Created {user.role} account {user.username!r} (id {user.pk})."))
