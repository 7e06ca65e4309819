"""System checks of the payouts app, run by `manage.py check --deploy`.

A production deployment (DEBUG off) must not sign or trust webhooks with the sandbox's public
secret, nor call a real Stripe with the sandbox's key: the first lets anyone forge a
`transfer.reversed` and have the same money paid twice.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register

from payouts.stripe_gateway import SANDBOX_SECRET_KEY, SANDBOX_WEBHOOK_SECRET

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def stripe_is_local_sandbox(api_base: str) -> bool:
    """True when the Stripe API base is a server on this machine (the sandbox of tests and demos)."""
    return bool(api_base) and (urlsplit(api_base).hostname or "") in _LOCAL_HOSTS


@register(Tags.security, deploy=True)
def stripe_secrets_check(app_configs, **kwargs) -> list[Error]:
    if settings.DEBUG:
        return []
    errors: list[Error] = []
    webhook_secret = (settings.STRIPE_WEBHOOK_SECRET or "").strip()
    if not webhook_secret or webhook_secret == SANDBOX_WEBHOOK_SECRET:
        errors.append(Error(
            "STRIPE_WEBHOOK_SECRET is unset or the public sandbox default.",
            hint="Set STRIPE_WEBHOOK_SECRET to the signing secret of your Stripe webhook endpoint "
                 "(whsec_...): anyone can sign events with the default.",
            id="payouts.E001",
        ))
    secret_key = (settings.STRIPE_SECRET_KEY or "").strip()
    if not stripe_is_local_sandbox(settings.STRIPE_API_BASE) and (not secret_key or secret_key == SANDBOX_SECRET_KEY):
        errors.append(Error(
            "STRIPE_SECRET_KEY is unset or the sandbox default while STRIPE_API_BASE is not a local sandbox.",
            hint="Set STRIPE_SECRET_KEY to your platform's secret key, or point STRIPE_API_BASE at the "
                 "local sandbox (http://127.0.0.1:PORT).",
            id="payouts.E002",
        ))
    return errors
