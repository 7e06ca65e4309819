"""Indexes the operations report needs (added by the reports work, issue 6).

`created_at` and `resolved_at` are already indexed; abandoned and rated tickets are found by
their own timestamps, so partial indexes on the rows that have them. Raw SQL with no model
state: the models are unchanged, so `makemigrations` stays clean (the tickets app may move them
into `Ticket.Meta.indexes` later with `SeparateDatabaseAndState`). Same SQL on PostgreSQL and SQLite.
"""

from django.db import migrations

INDEXES = [
    ("ticket_report_abandoned_idx", "tickets_ticket (abandoned_at) WHERE abandoned_at IS NOT NULL"),
    ("ticket_report_rated_idx", "tickets_ticket (rated_at) WHERE rated_at IS NOT NULL"),
]


class Migration(migrations.Migration):
    dependencies = [("tickets", "0003_routing_lock_canned_responses")]

    operations = [
        migrations.RunSQL(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}", f"DROP INDEX IF EXISTS {name}")
        for name, definition in INDEXES
    ]
