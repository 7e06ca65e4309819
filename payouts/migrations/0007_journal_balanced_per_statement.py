"""The balance guard checks once per INSERT statement instead of once per line at commit.

The deferred per-row constraint trigger ran a PL/pgSQL call for every journal line at commit: a
third of the commit of a settlement batch (thousands of lines). The ledger inserts every line of
a posting in one statement, so a statement-level trigger over the inserted rows (a transition
table) sees whole postings: it sums each journal transaction those rows belong to, old lines
included, and refuses the statement if one does not balance. That is stricter than before: a
transaction can no longer be unbalanced even between statements.
"""

from django.db import migrations

PER_STATEMENT_SQL = """
DROP TRIGGER IF EXISTS payouts_journal_balanced ON payouts_journalline;
DROP FUNCTION IF EXISTS payouts_journal_balanced();

CREATE FUNCTION payouts_journal_balanced() RETURNS trigger AS $$
DECLARE
    bad RECORD;
BEGIN
    SELECT l.transaction_id, l.currency, SUM(l.amount) AS total INTO bad
      FROM payouts_journalline l
     WHERE l.transaction_id IN (SELECT DISTINCT transaction_id FROM inserted_lines)
     GROUP BY l.transaction_id, l.currency
    HAVING SUM(l.amount) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal transaction % does not balance in % (sum %)',
            bad.transaction_id, bad.currency, bad.total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER payouts_journal_balanced
    AFTER INSERT ON payouts_journalline
    REFERENCING NEW TABLE AS inserted_lines
    FOR EACH STATEMENT EXECUTE FUNCTION payouts_journal_balanced();
"""

PER_ROW_AT_COMMIT_SQL = """
DROP TRIGGER IF EXISTS payouts_journal_balanced ON payouts_journalline;
DROP FUNCTION IF EXISTS payouts_journal_balanced();

CREATE FUNCTION payouts_journal_balanced() RETURNS trigger AS $$
DECLARE
    bad RECORD;
BEGIN
    IF EXISTS (SELECT 1 FROM payouts_journalline
                WHERE transaction_id = NEW.transaction_id AND id > NEW.id) THEN
        RETURN NULL;
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

CREATE CONSTRAINT TRIGGER payouts_journal_balanced
    AFTER INSERT ON payouts_journalline
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION payouts_journal_balanced();
"""


class Migration(migrations.Migration):
    dependencies = [("payouts", "0006_drop_covered_fk_indexes")]

    operations = [migrations.RunSQL([PER_STATEMENT_SQL], [PER_ROW_AT_COMMIT_SQL])]
