"""Tokens issued before issue 14 (DRF's authtoken table, plain keys) become digests of the same
keys, so clients keep working; each gets the expiry of its user's role from now. The plain-key
table is then dropped. A fresh database has no such table and skips both steps."""

from django.db import migrations

FORWARD = """
DO $$
BEGIN
    IF to_regclass('authtoken_token') IS NOT NULL THEN
        INSERT INTO accounts_apitoken (digest, user_id, created_at, expires_at, otp_verified)
        SELECT encode(sha256(convert_to(t.key, 'UTF8')), 'hex'), t.user_id, t.created,
               now() + CASE WHEN u.role IN ('ops', 'finance', 'admin') THEN interval '12 hours'
                            ELSE interval '30 days' END,
               false
        FROM authtoken_token t JOIN workers_user u ON u.id = t.user_id
        ON CONFLICT (digest) DO NOTHING;
        DROP TABLE authtoken_token;
        DELETE FROM django_migrations WHERE app = 'authtoken';
    END IF;
END $$;
"""


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
        ("workers", "0001_initial"),
    ]

    operations = [migrations.RunSQL(FORWARD, migrations.RunSQL.noop)]
