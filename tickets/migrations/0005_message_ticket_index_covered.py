"""Message.ticket is indexed by message_seq_unique; tickets get room on their pages so the update
every message makes (last_seq) stays heap-only (HOT)."""

import django.db.models.deletion
from django.db import migrations, models


def ticket_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE tickets_ticket SET (fillfactor = 80)")


def ticket_fillfactor_default(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE tickets_ticket RESET (fillfactor)")


class Migration(migrations.Migration):

    dependencies = [
        ('tickets', '0004_report_indexes'),
    ]

    operations = [
        migrations.RunPython(ticket_fillfactor, ticket_fillfactor_default),
        migrations.AlterField(
            model_name='message',
            name='ticket',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='messages', to='tickets.ticket'),
        ),
    ]
