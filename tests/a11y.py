"""Accessibility checks for the browser tests: axe-core (WCAG 2.1 AA rules) run in the page."""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe

_axe = Axe()
_WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
            "resultTypes": ["violations"]}


def serious_violations(page) -> list[str]:
    """One line per serious or critical axe-core violation on the page as it is now."""
    response = _axe.run(page, options=_WCAG_AA).response
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
        for violation in response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


def assert_accessible(page) -> None:
    """Fail with the list of serious/critical WCAG 2.1 AA violations, if any."""
    found = serious_violations(page)
    assert not found, f"axe-core on {page.url}:\n" + "\n".join(found)
