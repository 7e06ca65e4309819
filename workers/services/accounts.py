"""Accounts: staff accounts, API tokens and worker applications."""

from __future__ import annotations

from django.contrib.auth import password_validation
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q

from kernel.accounts.services import sign_in_check, totp_provision
from kernel.accounts.tokens import token_issue
from workers.errors import InvalidInput
from workers.models import Role, User, Worker, WorkerEvent, WorkerLanguage, WorkerStatus
from workers.services.validation import country_error, language_error, skill_errors, timezone_error, unique_codes

ADMIN_GROUP = "Shiftline admins"
# What the admin role may change in the Django admin (it may view every model): accounts and their
# two-factor devices (a lost phone), the skill catalogue and assessment questions. Failed sign-ins
# are only viewed there: unlocking goes through the audited unlock (API or /ops/locked-accounts/).
# Not groups or permissions: an admin cannot widen their own rights (workers/admin.py keeps a
# user's superuser, staff, groups, permissions and role read-only for them).
# Money, tickets and the audit trail change only through Shiftline's services, never the admin.
ADMIN_CHANGES = {
    ("workers", "user"), ("workers", "skill"), ("workers", "assessmentquestion"),
    ("otp_totp", "totpdevice"), ("otp_static", "staticdevice"), ("otp_static", "statictoken"),
}


def admin_group() -> Group:
    """The `admin` role's permissions, as a group (created or brought up to date)."""
    group, _ = Group.objects.get_or_create(name=ADMIN_GROUP)
    change = Q()
    for app_label, model in ADMIN_CHANGES:
        change |= Q(content_type__app_label=app_label, content_type__model=model)
    group.permissions.set(Permission.objects.filter(Q(codename__startswith="view_") | change))
    return group


def staff_role_apply(user: User) -> None:
    """Admin-site access follows the role: `admin` is staff in the admin group, never a superuser."""
    user.is_staff = user.role == Role.ADMIN
    user.is_superuser = False
    user.save(update_fields=["is_staff", "is_superuser"])
    if user.role == Role.ADMIN:
        user.groups.add(admin_group())
    else:
        user.groups.remove(*Group.objects.filter(name=ADMIN_GROUP))


@transaction.atomic
def staff_create(*, role: str, username: str, password: str, email: str = "", totp_secret: str = "") -> User:
    """Create a staff account (ops, finance, admin). Refuses an existing username. With
    `totp_secret` (base32) the account gets a confirmed two-factor device at once."""
    if role not in (Role.OPS, Role.FINANCE, Role.ADMIN):
        raise InvalidInput(f"Staff role must be ops, finance or admin, not {role!r}.",
                           fields={"role": ["Not a staff role."]})
    if User.objects.filter(username__iexact=username).exists():
        raise InvalidInput("That username is taken.", fields={"username": ["Already taken."]})
    user = User.objects.create_user(username=username, password=password, email=email, role=role)
    staff_role_apply(user)
    if totp_secret:
        totp_provision(user=user, secret_base32=totp_secret)
    return user


def auth_token_issue(*, request, username: str, password: str, otp: str | None = None) -> tuple[str, User]:
    """Check the credentials (lockout, second factor: kernel.accounts.services.sign_in_check) and
    issue a new API token; returns its key (only a digest is stored) and the user."""
    signed_in = sign_in_check(request, username=username, password=password, otp=otp)
    user = signed_in.user
    assert isinstance(user, User)
    return token_issue(user, otp_verified=signed_in.device is not None), user


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
