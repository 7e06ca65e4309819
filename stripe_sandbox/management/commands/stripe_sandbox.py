"""`python manage.py stripe_sandbox --port P --webhook-url URL`: a local Stripe for tests and demos."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from stripe_sandbox.server import serve


class Command(BaseCommand):
    help = ("Run Shiftline's local Stripe-compatible server (accounts, account links, transfers, "
            "reversals, balance, events; idempotency, failure injection, signed webhooks).")
    # A standalone server: it needs no URL, model or DRF checks (and starts faster without them).
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=12111)
        parser.add_argument("--webhook-url", default="",
                            help="Where signed webhooks go, e.g. http://127.0.0.1:8000/api/v1/payouts/stripe/webhook/")
        parser.add_argument("--webhook-secret", default="",
                            help="Signing secret (default: settings.STRIPE_WEBHOOK_SECRET)")
        parser.add_argument("--rate-limit", type=float, default=0,
                            help="Writes per second before 429, like Stripe live mode (100); 0 = off")
        parser.add_argument("--state-file", default="",
                            help="Load what the sandbox knew from this JSON file and write it back on exit "
                                 "(make run's demo, so a second run still knows its accounts and transfers)")

    def handle(self, *args, **options):
        server = serve(options["host"], options["port"], webhook_url=options["webhook_url"],
                       webhook_secret=options["webhook_secret"] or settings.STRIPE_WEBHOOK_SECRET,
                       writes_per_second=options["rate_limit"])
        state_file = Path(options["state_file"]) if options["state_file"] else None
        if state_file is not None:
            server.state.load(state_file)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        host, port = server.server_address[:2]
        self.stdout.write(f"stripe_sandbox listening on http://{host}:{port} "
                          f"(webhooks to {options['webhook_url'] or 'nowhere'})")
        self.stdout.flush()
        try:
            server.serve_forever(poll_interval=0.2)
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            server.server_close()
            if state_file is not None:
                server.state.save(state_file)
