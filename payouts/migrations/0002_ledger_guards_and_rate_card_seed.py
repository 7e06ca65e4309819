"""The database guards of the ledger (PostgreSQL) and the first rate card.

- `payouts_journal_balanced`: a DEFERRABLE INITIALLY DEFERRED constraint trigger; at commit it
  refuses any journal transaction whose lines do not sum to zero per currency.
- `payouts_journal_immutable`: refuses UPDATE and DELETE of journal lines and transactions
  (corrections are reversing postings). TRUNCATE stays possible for test teardown.

SQLite (`make run` without DATABASE_URL) gets no triggers; Python checks still apply there.
"""

from django.db import migrations

BALANCED_SQL = """
CREATE OR REPLACE FUNCTION payouts_journal_balanced() RETURNS trigger AS $$
DECLARE
    bad RECORD;
BEGIN
    SELECT currency, SUM(amount) AS total INTO bad
      FROM payouts_journalline
     WHERE transaction_id = NEW.transaction_id
     GROUP BY currency
    HAVING SUM(amount) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal transaction % does not balance in % (sum %)',
            NEW.transaction_id, bad.currency, bad.total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER payouts_journal_balanced
    AFTER INSERT ON payouts_journalline
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION payouts_journal_balanced();

CREATE OR REPLACE FUNCTION payouts_journal_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are immutable: % on % refused (post a reversal instead)',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER payouts_journalline_immutable
    BEFORE UPDATE OR DELETE ON payouts_journalline
    FOR EACH ROW EXECUTE FUNCTION payouts_journal_immutable();

CREATE TRIGGER payouts_journaltransaction_immutable
    BEFORE UPDATE OR DELETE ON payouts_journaltransaction
    FOR EACH ROW EXECUTE FUNCTION payouts_journal_immutable();
"""

DROP_SQL = """
DROP TRIGGER IF EXISTS payouts_journaltransaction_immutable ON payouts_journaltransaction;
DROP TRIGGER IF EXISTS payouts_journalline_immutable ON payouts_journalline;
DROP TRIGGER IF EXISTS payouts_journal_balanced ON payouts_journalline;
DROP FUNCTION IF EXISTS payouts_journal_immutable();
DROP FUNCTION IF EXISTS payouts_journal_balanced();
"""


def seed_rate_card(apps, schema_editor):
    RateCard = apps.get_model("payouts", "RateCard")
    if not RateCard.objects.exists():
        # EUR 5.00 a case, EUR 1.00 for a 5-star rating, a 72 h hold (the reopen window), and
        # payouts from EUR 20.00 so transfer fees stay a small share.
        RateCard.objects.create(version=1, currency="eur", base_per_case=500, csat_bonus=100,
                                hold_hours=72, minimum_payout=2000)


def unseed_rate_card(apps, schema_editor):
    apps.get_model("payouts", "RateCard").objects.filter(version=1, created_by__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("payouts", "0001_initial")]

    operations = [
        migrations.RunSQL([BALANCED_SQL], [DROP_SQL]),
        migrations.RunPython(seed_rate_card, unseed_rate_card),
    ]
