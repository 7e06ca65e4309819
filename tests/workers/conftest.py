"""Fixtures of the workers tests: factories as fixtures, and time helpers."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.factories.workers import ShiftClaimFactory, ShiftFactory, WorkerFactory, ensure_seed_data


@pytest.fixture
def seed_data(db):
    """The skill catalogue and quiz questions that migrations seed (gone after a transactional test)."""
    ensure_seed_data()


@pytest.fixture
def worker_factory(db, seed_data):
    return WorkerFactory


@pytest.fixture
def shift_factory(db, seed_data):
    return ShiftFactory


@pytest.fixture
def claim_factory(db):
    return ShiftClaimFactory


@pytest.fixture
def in_hours():
    """`in_hours(3)`: a whole-second time that many hours from now."""

    def make(hours: float) -> dt.datetime:
        return timezone.now().replace(microsecond=0) + dt.timedelta(hours=hours)

    return make
