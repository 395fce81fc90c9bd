from django.db import migrations

# The balance check of settlements.0007 (settlements_posting_balanced) once per journal entry
# and INSERT statement, not once per posting row (issue #18: a 1,000-investor settlement paid
# 1,002 row-trigger calls, two index lookups each, at commit; benchmarks/README.md).
#
# - settlements_posting_entries_to_check: an AFTER INSERT ... FOR EACH STATEMENT trigger over
#   the statement's new rows (a transition table) writes each entry they touch, once, into
#   settlements_entry_unchecked (ON CONFLICT DO NOTHING: a second statement of the same entry
#   in the same transaction adds nothing);
# - settlements_posting_balanced, now a deferred constraint trigger on that table (a constraint
#   trigger must be FOR EACH ROW and cannot see a transition table: hence the table), runs the
#   same whole-entry check as before (settlements_entry_check, unchanged: sums per currency,
#   currencies, accounts that may not go negative, locked) at commit - or at SET CONSTRAINTS
#   ... IMMEDIATE - once per entry, and removes the entry's row. The table is empty outside an
#   open transaction; its rows are the transaction's own (an entry id is written by the one
#   transaction posting to it; another transaction posting to the same entry waits on its key).
#
# Same guarantees, same constraint name in the errors, same SET CONSTRAINTS name. Skipped on
# SQLite, like 0007.
FORWARD = r"""
DROP TRIGGER IF EXISTS settlements_posting_balanced ON settlements_posting;
DROP FUNCTION IF EXISTS settlements_posting_balanced();

CREATE TABLE settlements_entry_unchecked (entry_id bigint PRIMARY KEY);

CREATE OR REPLACE FUNCTION settlements_posting_entries_to_check() RETURNS trigger AS $$
BEGIN
    INSERT INTO settlements_entry_unchecked (entry_id)
    SELECT DISTINCT entry_id FROM new_postings
    ON CONFLICT (entry_id) DO NOTHING;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER settlements_posting_entries_to_check
    AFTER INSERT ON settlements_posting
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION settlements_posting_entries_to_check();

CREATE OR REPLACE FUNCTION settlements_entry_balanced() RETURNS trigger AS $$
BEGIN
    PERFORM settlements_entry_check(NEW.entry_id);
    DELETE FROM settlements_entry_unchecked WHERE entry_id = NEW.entry_id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER settlements_posting_balanced
    AFTER INSERT ON settlements_entry_unchecked
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION settlements_entry_balanced();
"""

# Back to 0007's row trigger (its function as 0007 wrote it).
BACKWARD = r"""
DROP TRIGGER IF EXISTS settlements_posting_balanced ON settlements_entry_unchecked;
DROP FUNCTION IF EXISTS settlements_entry_balanced();
DROP TRIGGER IF EXISTS settlements_posting_entries_to_check ON settlements_posting;
DROP FUNCTION IF EXISTS settlements_posting_entries_to_check();
DROP TABLE IF EXISTS settlements_entry_unchecked;

CREATE OR REPLACE FUNCTION settlements_posting_balanced() RETURNS trigger AS $$
DECLARE
    same_statement boolean;
BEGIN
    SELECT n.xmin = me.xmin AND n.cmin = me.cmin INTO same_statement
      FROM settlements_posting me, settlements_posting n
     WHERE me.id = NEW.id AND n.entry_id = NEW.entry_id AND n.leg > NEW.leg
     ORDER BY n.leg LIMIT 1;
    IF same_statement THEN
        RETURN NULL;
    END IF;
    PERFORM settlements_entry_check(NEW.entry_id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER settlements_posting_balanced
    AFTER INSERT ON settlements_posting
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION settlements_posting_balanced();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("settlements", "0010_payout_returns"),
    ]

    operations = [
        migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD)),
    ]
