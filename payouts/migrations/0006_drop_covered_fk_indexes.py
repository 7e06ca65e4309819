"""Drop foreign-key indexes that a composite index already covers, and leave room on ledger
account pages so balance updates stay heap-only (HOT): both cut the cost of every posting."""

import django.db.models.deletion
from django.db import migrations, models


def ledger_account_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE payouts_ledgeraccount SET (fillfactor = 70)")


def ledger_account_fillfactor_default(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE payouts_ledgeraccount RESET (fillfactor)")


class Migration(migrations.Migration):

    dependencies = [
        ('payouts', '0005_report_indexes'),
        ('tickets', '0004_report_indexes'),
        ('workers', '0005_shift_templates'),
    ]

    operations = [
        migrations.RunPython(ledger_account_fillfactor, ledger_account_fillfactor_default),
        migrations.AlterField(
            model_name='earning',
            name='ticket',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='earnings', to='tickets.ticket'),
        ),
        migrations.AlterField(
            model_name='earning',
            name='worker',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='earnings', to='workers.worker'),
        ),
        migrations.AlterField(
            model_name='journalline',
            name='account',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='lines', to='payouts.ledgeraccount'),
        ),
        migrations.AlterField(
            model_name='journalline',
            name='transaction',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='lines', to='payouts.journaltransaction'),
        ),
        migrations.AlterField(
            model_name='journaltransaction',
            name='worker',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='workers.worker'),
        ),
    ]
