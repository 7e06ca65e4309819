"""Report selectors: every figure of the finance and operations reports, aggregated in SQL.

The API (`reports/api.py`), the dashboards (`reports/pages.py`), the CSV exports and the Celery
tasks (`reports/tasks.py`) all call these functions, so a figure is defined once: `payouts` (the
payout report, breakdowns, a worker's statement), `operations`, `reconciliation` (the ledger
against Stripe) and `exports` (line-item and annual earnings).

Conventions: ranges are inclusive UTC days (`day_from` .. `day_to`); money is integer minor units
with a lowercase ISO currency; durations are seconds (floats, PostgreSQL `PERCENTILE_CONT`
semantics: linear interpolation between the closest ranks).
"""
