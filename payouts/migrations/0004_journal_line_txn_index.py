"""The balance check runs once per journal transaction instead of once per line.

The deferred trigger fires for every inserted line; summing the whole transaction each time is
quadratic for big postings (a settlement batch has thousands of lines). Now only the trigger of
the transaction's highest line id sums it: all lines of a posting exist at commit, and a line
added later has a higher id, so it re-checks the transaction. The (transaction, id) index makes
finding that line a single index probe.
"""

from django.db import migrations, models

BALANCED_ONCE_SQL = """
CREATE OR REPLACE FUNCTION payouts_journal_balanced() RETURNS trigger AS $$
DECLARE
    bad RECORD;
BEGIN
    IF EXISTS (SELECT 1 FROM payouts_journalline
                WHERE transaction_id = NEW.transaction_id AND id > NEW.id) THEN
        RETURN NULL;  -- a later line of this transaction does the check
    END IF;
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
"""

BALANCED_EVERY_LINE_SQL = """
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
"""


class Migration(migrations.Migration):
    dependencies = [("payouts", "0003_stripe_event_object_id")]

    operations = [
        migrations.AddIndex(
            model_name="journalline",
            index=models.Index(fields=["transaction", "id"], name="journal_line_txn_id_idx"),
        ),
        migrations.RunSQL([BALANCED_ONCE_SQL], [BALANCED_EVERY_LINE_SQL]),
    ]
