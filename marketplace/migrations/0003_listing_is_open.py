"""``Listing.is_open``: the listing's invoice is ``LISTED``, kept by the database (issue #19).

The marketplace's open-listing test read the invoice's status through a join, so no index on
the listing could serve it. The column is a function of the invoice's status, and the database
keeps it so in the statement that changes either row - the invoice's one status writer
(``invoices.services.invoice_transition``) needs to know nothing about listings (the invoices
app sits below the marketplace), and no other path can let it drift:

- ``marketplace_listing_open_from_invoice``: AFTER UPDATE OF status ON invoices_invoice, only
  when the invoice enters or leaves LISTED (WHEN clause: every other transition costs nothing),
  sets the listing's ``is_open``. The listing row is already locked by every path that moves a
  listed invoice (``marketplace.lock_objects``: listing, then invoice), and the row a listing
  is created with is the transaction's own: no new lock order;
- ``marketplace_listing_open_guard`` (PostgreSQL): BEFORE INSERT, and UPDATE OF is_open or
  invoice_id, on the listing: ``is_open`` is recomputed from the invoice, whatever the
  statement wrote (a stale ``save()`` cannot write a wrong value). On SQLite (the demo) an
  AFTER INSERT trigger sets it instead.

Existing rows are set from their invoices here.
"""

from django.db import migrations, models

PG_FORWARD = r"""
UPDATE marketplace_listing l SET is_open = true
  FROM invoices_invoice i WHERE i.id = l.invoice_id AND i.status = 'LISTED';

CREATE OR REPLACE FUNCTION marketplace_listing_open_from_invoice() RETURNS trigger AS $$
BEGIN
    UPDATE marketplace_listing SET is_open = (NEW.status = 'LISTED') WHERE invoice_id = NEW.id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER marketplace_listing_open_from_invoice
    AFTER UPDATE OF status ON invoices_invoice
    FOR EACH ROW WHEN ((OLD.status = 'LISTED') IS DISTINCT FROM (NEW.status = 'LISTED'))
    EXECUTE FUNCTION marketplace_listing_open_from_invoice();

CREATE OR REPLACE FUNCTION marketplace_listing_open_guard() RETURNS trigger AS $$
BEGIN
    NEW.is_open := coalesce(
        (SELECT i.status = 'LISTED' FROM invoices_invoice i WHERE i.id = NEW.invoice_id), false);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER marketplace_listing_open_guard
    BEFORE INSERT OR UPDATE OF is_open, invoice_id ON marketplace_listing
    FOR EACH ROW EXECUTE FUNCTION marketplace_listing_open_guard();
"""

PG_BACKWARD = r"""
DROP TRIGGER IF EXISTS marketplace_listing_open_guard ON marketplace_listing;
DROP FUNCTION IF EXISTS marketplace_listing_open_guard();
DROP TRIGGER IF EXISTS marketplace_listing_open_from_invoice ON invoices_invoice;
DROP FUNCTION IF EXISTS marketplace_listing_open_from_invoice();
"""

SQLITE_FORWARD = [
    """UPDATE marketplace_listing SET is_open = 1 WHERE invoice_id IN
       (SELECT id FROM invoices_invoice WHERE status = 'LISTED')""",
    """CREATE TRIGGER marketplace_listing_open_from_invoice
       AFTER UPDATE OF status ON invoices_invoice
       FOR EACH ROW WHEN (OLD.status = 'LISTED') <> (NEW.status = 'LISTED')
       BEGIN
           UPDATE marketplace_listing SET is_open = (NEW.status = 'LISTED')
            WHERE invoice_id = NEW.id;
       END""",
    """CREATE TRIGGER marketplace_listing_open_on_insert
       AFTER INSERT ON marketplace_listing
       FOR EACH ROW
       BEGIN
           UPDATE marketplace_listing SET is_open = coalesce(
               (SELECT status = 'LISTED' FROM invoices_invoice WHERE id = NEW.invoice_id), 0)
            WHERE id = NEW.id;
       END""",
]

SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS marketplace_listing_open_on_insert",
    "DROP TRIGGER IF EXISTS marketplace_listing_open_from_invoice",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for sql in SQLITE_FORWARD:
            schema_editor.execute(sql, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for sql in SQLITE_BACKWARD:
            schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("invoices", "0007_scale_indexes"),
        ("marketplace", "0002_scale_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="listing",
            name="is_open",
            field=models.BooleanField(
                default=False,
                editable=False,
                help_text="The invoice is LISTED (open for funding until expires_at). Kept by "
                "the database: the invoice status writer's UPDATE sets it, in its statement "
                "(marketplace migration 0003), so that the marketplace's open-listing test "
                "reads the listing alone and a partial index serves it.",
            ),
        ),
        migrations.RunPython(forward, backward),
    ]
