"""Drop foreign-key indexes that a composite index already covers, and leave room on ledger
account pages so balance updates stay heap-only (HOT): both cut the cost of every posting."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('payouts', '0005_report_indexes'),
        ('tickets', '0004_report_indexes'),
        ('workers', '0005_shift_templates'),
    ]

    operations = [
        migrations.RunSQL(["ALTER TABLE payouts_ledgeraccount SET (fillfactor = 70)"],
                          ["ALTER TABLE payouts_ledgeraccount RESET (fillfactor)"]),
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
