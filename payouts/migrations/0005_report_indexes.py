"""Indexes the payout, annual and reconciliation reports need (added by the reports work, issue 6).

Earnings and payouts are selected by the day they were earned, paid or reversed. Raw SQL with no
model state: the models are unchanged, so `makemigrations` stays clean (the payouts app may move
them into the models' `Meta.indexes` later with `SeparateDatabaseAndState`). Same SQL on
PostgreSQL and SQLite.
"""

from django.db import migrations

INDEXES = [
    ("earning_report_earned_idx", "payouts_earning (earned_at)"),
    ("earning_report_worker_earned_idx", "payouts_earning (worker_id, earned_at)"),
    ("payout_report_paid_idx", "payouts_payout (paid_at) WHERE paid_at IS NOT NULL"),
    ("payout_report_reversed_idx", "payouts_payout (reversed_at) WHERE reversed_at IS NOT NULL"),
]


class Migration(migrations.Migration):
    dependencies = [("payouts", "0004_journal_line_txn_index")]

    operations = [
        migrations.RunSQL(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}", f"DROP INDEX IF EXISTS {name}")
        for name, definition in INDEXES
    ]
