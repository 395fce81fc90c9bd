"""Database helpers shared by the apps."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, models


def bulk_update_rows(objs: Sequence[models.Model], fields: Sequence[str]) -> None:
    """Write ``fields`` of many rows of one model in a single statement.

    On PostgreSQL: ``UPDATE t SET f = v.f ... FROM unnest(%s::type[], ...) AS v(...)
    WHERE t.id = v.id`` - one parameter array per column, so the statement's size and Django's
    work stay flat however many rows (``QuerySet.bulk_update`` builds a CASE/WHEN per row and
    field, ~1 s of Python for 1,000 rows x 7 fields). Elsewhere (SQLite, the embedded default)
    it falls back to ``bulk_update``. ``updated_at`` is set when the model has it.
    """
    if not objs:
        return
    model = type(objs[0])
    fields = list(fields)
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, fields)
        return
    from django.utils import timezone

    if hasattr(objs[0], "updated_at") and "updated_at" not in fields:
        fields.append("updated_at")
    now = timezone.now()
    meta = model._meta
    pk = meta.pk
    columns = [meta.get_field(name) for name in fields]
    arrays = [[o.pk for o in objs]]
    for field in columns:
        if field.name == "updated_at":
            arrays.append([now] * len(objs))
        else:
            arrays.append([field.get_db_prep_save(getattr(o, field.attname), connection)
                           for o in objs])
    types = [pk.db_type(connection)] + [f.db_type(connection) for f in columns]
    names = [pk.column] + [f.column for f in columns]
    qn = connection.ops.quote_name
    unnest = ", ".join(f"%s::{t.split('(')[0]}[]" if not t.startswith("numeric")
                       else f"%s::{t}[]" for t in types)
    sets = ", ".join(f"{qn(c)} = v.{qn(c)}" for c in names[1:])
    sql = (f"UPDATE {qn(meta.db_table)} AS t SET {sets} "  # noqa: S608 - identifiers only
           f"FROM unnest({unnest}) AS v({', '.join(qn(c) for c in names)}) "
           f"WHERE t.{qn(pk.column)} = v.{qn(pk.column)}")
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
