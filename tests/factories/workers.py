"""factory_boy factories for the workers app."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal

import factory
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from workers.models import (
    AssessmentQuestion,
    ClaimStatus,
    Role,
    Shift,
    ShiftClaim,
    ShiftSeat,
    Skill,
    User,
    Worker,
    WorkerLanguage,
    WorkerStatus,
)

DEFAULT_PASSWORD = "correct-horse-battery-staple"


def ensure_seed_data() -> None:
    """Put back what migrations seed (skill catalogue, assessment questions): a transactional test
    flushes every table, so tests that run after one would otherwise find them empty."""
    from importlib import import_module

    catalogue = import_module("workers.migrations.0002_skill_catalogue").CATALOGUE
    if Skill.objects.count() < len(catalogue):
        for code, name in catalogue:
            Skill.objects.get_or_create(code=code, defaults={"name": name})
    if not AssessmentQuestion.objects.exists():
        questions = import_module("workers.migrations.0004_assessment_questions_seed").QUESTIONS
        for position, (prompt, choices, correct) in enumerate(questions):
            AssessmentQuestion.objects.create(prompt=prompt, choices=choices, correct_choice=correct,
                                              position=position)


@functools.cache
def default_password_hash() -> str:
    """Hashed once per run with the real hasher, so server processes can verify it too."""
    return make_password(DEFAULT_PASSWORD)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    role = Role.WORKER
    password = factory.LazyFunction(lambda: default_password_hash())

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffFactory(UserFactory):
    username = factory.Sequence(lambda n: f"staff{n}")
    role = Role.OPS


class WorkerFactory(factory.django.DjangoModelFactory):
    """An approved worker speaking English with the `general` and `payments` skills by default.

    `WorkerFactory(languages=["en", "de"], skills=["refunds"], status="applied")`.
    """

    class Meta:
        model = Worker
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory, role=Role.WORKER)
    full_name = factory.Sequence(lambda n: f"Worker Number{n}")
    country = "PT"
    timezone = "Europe/Lisbon"
    status = WorkerStatus.APPROVED

    @factory.post_generation
    def languages(obj, create, extracted, **kwargs):
        if create:
            for code in extracted if extracted is not None else ["en"]:
                WorkerLanguage.objects.get_or_create(worker=obj, language=code)

    @factory.post_generation
    def skills(obj, create, extracted, **kwargs):
        if create:
            ensure_seed_data()
            codes = extracted if extracted is not None else ["general", "payments"]
            obj.skills.set(Skill.objects.filter(code__in=codes))


class ShiftFactory(factory.django.DjangoModelFactory):
    """A published English shift starting in three hours, two hours long, ten seats."""

    class Meta:
        model = Shift
        skip_postgeneration_save = True

    starts_at = factory.LazyFunction(lambda: timezone.now().replace(microsecond=0) + dt.timedelta(hours=3))
    ends_at = factory.LazyAttribute(lambda s: s.starts_at + dt.timedelta(hours=2))
    capacity = 10
    language = "en"
    rate_multiplier = Decimal("1.00")
    max_rate_multiplier = factory.LazyAttribute(lambda s: s.rate_multiplier)

    @factory.post_generation
    def skills(obj, create, extracted, **kwargs):
        if create and extracted:
            ensure_seed_data()
            obj.skills.set(Skill.objects.filter(code__in=extracted))


class ShiftClaimFactory(factory.django.DjangoModelFactory):
    """An active claim; an active or completed one takes a free seat of the shift (as the claim
    service would)."""

    class Meta:
        model = ShiftClaim

    shift = factory.SubFactory(ShiftFactory)
    worker = factory.SubFactory(WorkerFactory)
    status = ClaimStatus.ACTIVE
    rate_multiplier = factory.LazyAttribute(lambda c: c.shift.rate_multiplier)
    starts_at = factory.LazyAttribute(lambda c: c.shift.starts_at)
    ends_at = factory.LazyAttribute(lambda c: c.shift.ends_at)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        if kwargs.get("status", ClaimStatus.ACTIVE) not in (ClaimStatus.ACTIVE, ClaimStatus.COMPLETED):
            return super()._create(model_class, *args, **kwargs)
        with transaction.atomic():  # the claim and its seat name each other (checked at commit)
            seat = ShiftSeat.objects.filter(shift=kwargs["shift"], claim__isnull=True).order_by("pk").first()
            if seat is None:
                raise ValueError("The shift has no free seat.")
            claim = super()._create(model_class, *args, seat=seat, **kwargs)
            seat.claim = claim
            seat.save(update_fields=["claim"])
        return claim
