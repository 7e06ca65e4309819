"""Accounts: staff accounts, API tokens and worker applications."""

from __future__ import annotations

from django.contrib.auth import authenticate, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from workers.errors import BadCredentials, InvalidInput
from workers.models import Role, User, Worker, WorkerEvent, WorkerLanguage, WorkerStatus
from workers.services.validation import country_error, language_error, skill_errors, timezone_error, unique_codes


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


def worker_apply(*, username: str, password: str, email: str, full_name: str, country: str,
                 timezone_name: str, languages: list[str], skills: list[str]) -> Worker:
    """Create a worker account in status `applied`. Every bad field is reported at once.

    A taken username is named as such (the applicant must pick another); a taken email is refused
    with the same wording whether or not the address is registered to an active account.
    """
    fields: dict[str, list[str]] = {}
    username, email, full_name = username.strip(), email.strip(), full_name.strip()
    languages = unique_codes(languages, lower=True)
    skills = unique_codes(skills, lower=True)
    if not full_name:
        fields["full_name"] = ["Enter your full name."]
    try:
        validate_email(email)
    except DjangoValidationError:
        fields["email"] = ["Enter a valid email address."]
    if (error := country_error(country)) is not None:
        fields["country"] = [error]
    if (error := timezone_error(timezone_name)) is not None:
        fields["timezone"] = [error]
    if not languages:
        fields["languages"] = ["Choose at least one language."]
    elif language_errors := [e for e in map(language_error, languages) if e]:
        fields["languages"] = language_errors
    if bad_skills := skill_errors(skills):
        fields["skills"] = bad_skills
    if User.objects.filter(username__iexact=username).exists():
        fields["username"] = ["This username is taken; choose another."]
    if "email" not in fields and User.objects.filter(email__iexact=email).exists():
        fields["email"] = ["This email address cannot be used for a new application."]
    try:
        password_validation.validate_password(
            password, user=User(username=username, email=email, first_name=full_name[:150])
        )
    except DjangoValidationError as exc:
        fields["password"] = list(exc.messages)
    if fields:
        raise InvalidInput("Some fields are not valid: " + ", ".join(sorted(fields)) + ".", fields=fields)

    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, password=password, email=email,
                                            role=Role.WORKER, first_name=full_name[:150])
            worker = Worker.objects.create(user=user, full_name=full_name, country=country.upper(),
                                           timezone=timezone_name, status=WorkerStatus.APPLIED)
            WorkerLanguage.objects.bulk_create(WorkerLanguage(worker=worker, language=code) for code in languages)
            worker.skills.set(skills)  # type: ignore[arg-type]  # Skill's pk is its code; the stubs take int pks only
            WorkerEvent.objects.create(worker=worker, actor=user, kind="applied", to_status=WorkerStatus.APPLIED)
    except IntegrityError:  # a concurrent application took the username in the meantime
        raise InvalidInput("Some fields are not valid: username.",
                           fields={"username": ["This username is taken; choose another."]})
    return worker
