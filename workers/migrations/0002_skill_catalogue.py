from django.db import migrations

CATALOGUE = [
    ("general", "General questions"),
    ("payments", "Payments"),
    ("refunds", "Refunds"),
    ("orders", "Orders"),
    ("account", "Account and sign-in"),
    ("disputes", "Disputes and chargebacks"),
]


def seed_catalogue(apps, schema_editor):
    Skill = apps.get_model("workers", "Skill")
    for code, name in CATALOGUE:
        Skill.objects.get_or_create(code=code, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("workers", "0001_initial")]
    operations = [migrations.RunPython(seed_catalogue, migrations.RunPython.noop)]
