"""Dependencies point one way: nothing imports `reports` but the URL wiring, and no production app
imports the dev-only `stripe_sandbox`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_APPS = ["marketplace", "workers", "tickets", "payouts", "reports"]


def imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def importers_of(package: str, apps: list[str]) -> list[str]:
    return sorted(
        str(path.relative_to(ROOT)) for app in apps for path in (ROOT / app).rglob("*.py")
        if package in imported_packages(path)
    )


def test_only_the_url_wiring_imports_reports():
    assert importers_of("reports", ["marketplace", "workers", "tickets", "payouts"]) == ["marketplace/urls.py"]


def test_no_production_app_imports_the_stripe_sandbox():
    assert importers_of("stripe_sandbox", PRODUCTION_APPS) == []


# The layers, lowest first: each package may import only those before it (and itself). The
# configuration package `marketplace` wires them all together and none of them imports it.
LAYERS = ["kernel", "workers", "tickets", "payouts", "reports"]
FIRST_PARTY = {*LAYERS, "marketplace", "demo", "stripe_sandbox"}


def imports_above(package: str) -> dict[str, set[str]]:
    allowed = set(LAYERS[:LAYERS.index(package) + 1])
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        wrong = (imported_packages(path) & FIRST_PARTY) - allowed
        if wrong:
            found[str(path.relative_to(ROOT))] = wrong
    return found


@pytest.mark.parametrize("package", LAYERS)
def test_dependencies_point_one_way(package):
    assert imports_above(package) == {}


def test_the_kernel_imports_no_app_and_no_configuration():
    assert imports_above("kernel") == {}
    assert not (ROOT / "marketplace" / "outbox").exists()
    assert sorted(path.name for path in (ROOT / "marketplace").glob("*.py")) == [
        "__init__.py", "asgi.py", "celery.py", "health.py", "routing.py", "settings.py", "settings_test.py", "urls.py"]
