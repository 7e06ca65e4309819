"""Every write of the workers app. Keyword-only, typed, one transaction each."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.db import transaction
from rest_framework.authtoken.models import Token

from workers.errors import BadCredentials, InvalidInput
from workers.models import Role, User


@transaction.atomic
def staff_create(*, role: str, username: str, password: str, email: str = "") -> User:
    """Create a staff account (ops, finance, admin). Refuses an existing username."""
    if role not in (Role.OPS, Role.FINANCE, Role.ADMIN):
        raise InvalidInput(f"Staff role must be ops, finance or admin, not {role!r}.",
                           fields={"role": ["Not a staff role."]})
    if User.objects.filter(username__iexact=username).exists():
        raise InvalidInput("That username is taken.", fields={"username": ["Already taken."]})
    return User.objects.create_user(
        username=username, password=password, email=email, role=role,
        is_staff=role == Role.ADMIN, is_superuser=role == Role.ADMIN,
    )


def auth_token_issue(*, username: str, password: str) -> tuple[Token, User]:
    """Check the credentials and return the user's API token (created once, then reused)."""
    user = authenticate(username=username, password=password)
    if user is None or not user.is_active:
        raise BadCredentials()
    token, _ = Token.objects.get_or_create(user=user)
    return token, user
