"""The batch consumption of `ticket.resolved` moved from the `payouts.consume_resolved` task to the
outbox's own `outbox.drain`: drop the old beat entry, which django-celery-beat keeps in its table."""

from django.db import migrations


def drop_old_entry(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name="payouts-consume-resolved").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("outbox", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(drop_old_entry, migrations.RunPython.noop)]
