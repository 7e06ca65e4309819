import pytest

from tests.factories.workers import ensure_seed_data


@pytest.fixture(autouse=True)
def skill_catalogue(db):
    """The catalogue `migrate` seeds; a transactional test's flush empties it, so put it back."""
    ensure_seed_data()
