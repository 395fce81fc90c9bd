# ruff: noqa: S608  # nosec B608 - SQL built from identifiers and expressions in code, no input
"""Tallies: sums of a table's rows per key, kept by PostgreSQL in the statement that changes the
rows, for the back office's figures that would otherwise read a whole table on every view
(issue #19: outstanding principal over 2,000,000 investments, default rates over 1,000,000
invoices).

A tally table has the key columns and one column per sum. Triggers (:func:`tally_sql`, run by
the owning app's migration) *append* a row per key a statement touches - the new rows' sums, and
the old rows' sums negated - and never update one: concurrent writers share no row, take no new
lock and cannot deadlock on a tally. A read sums the rows of its keys, so it is exact at any
instant (a tally row commits with the change it counts); :func:`tally_compact` (beat, through
:func:`tallies_compact`) folds each key's rows into one under an advisory lock. The ledger's day
totals (``settlements.ledger.totals``) follow the same design with their own triggers (their
key is read from two joined tables).

PostgreSQL only: on SQLite (the embedded demo) nothing is kept, and the readers sum the source
table (:func:`tallies_kept`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction


@dataclass(frozen=True)
class Tally:
    """A tally table: ``table``, its ``keys`` and ``sums`` columns, and the advisory lock key of
    its compaction."""

    table: str
    keys: tuple[str, ...]
    sums: tuple[str, ...]
    lock_key: int


#: The tallies :func:`tallies_compact` folds, registered by their apps (``AppConfig.ready``).
TALLIES: dict[str, Tally] = {}


def tally_register(tally: Tally) -> None:
    """Register ``tally`` for :func:`tallies_compact` (idempotent)."""
    TALLIES[tally.table] = tally


def tallies_kept() -> bool:
    """Whether triggers keep the tallies (PostgreSQL)."""
    return connection.vendor == "postgresql"


def tally_compact(tally: Tally) -> int:
    """Fold each key's rows of ``tally`` into one row (the same sums); returns the rows removed.
    One statement under a transaction-scoped advisory lock (one compaction of a tally at a
    time); rows appended meanwhile are not in the statement's snapshot and stay as they are, so
    reads stay exact throughout. Safe to run any number of times; nothing to do on SQLite."""
    if not tallies_kept():
        return 0
    keys = ", ".join(tally.keys)
    match = " AND ".join(f"t.{k} IS NOT DISTINCT FROM s.{k}" for k in tally.keys)
    sums = ", ".join(f"sum({c})" for c in tally.sums)
    sql = f"""
        WITH spread AS (
            SELECT {keys} FROM {tally.table} GROUP BY {keys} HAVING count(*) > 1),
        moved AS (
            DELETE FROM {tally.table} t USING spread s WHERE {match} RETURNING t.*),
        folded AS (
            INSERT INTO {tally.table} ({keys}, {", ".join(tally.sums)})
            SELECT {keys}, {sums} FROM moved GROUP BY {keys} RETURNING 1)
        SELECT (SELECT count(*) FROM moved) - (SELECT count(*) FROM folded)
    """  # noqa: S608  # nosec B608 - identifiers from code, no input
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [tally.lock_key])
        cursor.execute(sql)
        return cursor.fetchone()[0]


def tallies_compact() -> dict[str, int]:
    """:func:`tally_compact` every registered tally; ``{table: rows removed}``."""
    return {table: tally_compact(tally) for table, tally in sorted(TALLIES.items())}


def tally_sql(
    *,
    source: str,
    tally: str,
    keys: dict[str, str],
    sums: dict[str, str],
    row_level_update: bool = False,
    where: str = "",
) -> tuple[str, str]:
    """The SQL (forward, backward) of the triggers that keep ``tally`` from ``source``.

    ``keys`` and ``sums`` map the tally's columns to expressions over a row of ``source``
    (written with the alias ``r``): a key column gets ``GROUP BY`` its expression, a sum column
    ``sum(expression)``. INSERT and DELETE are statement triggers over transition tables (one
    appended row per key a statement touches: a COPY of a million rows appends a handful);
    UPDATE too, unless ``row_level_update``: then a row trigger that runs only WHEN a key or
    summed expression changed - for tables whose rows are wide and mostly updated in other
    columns (a statement trigger would copy every updated row into its transition tables).
    ``where`` (an expression over ``r``) limits the tally to the rows it holds for: a row
    counts while it holds, and an UPDATE that makes it hold or stop holding moves it in or out.
    Finally the existing rows are tallied (one scan).
    """
    cols = ", ".join([*keys, *sums])
    group = ", ".join(keys.values())

    def select(rows: str, sign: str) -> str:
        out = [f"{expr}" for expr in keys.values()]
        out += [f"{sign}sum({expr})" for expr in sums.values()]
        filtered = f" WHERE {where}" if where else ""
        return (f"SELECT {', '.join(out)} FROM {rows} AS r{filtered} GROUP BY {group}")  # noqa: S608  # nosec B608 - names from code

    def function(name: str, body: str) -> str:
        return (f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$\nBEGIN\n{body}\n"
                f"    RETURN NULL;\nEND;\n$$ LANGUAGE plpgsql;\n")

    insert = f"INSERT INTO {tally} ({cols})"
    forward = [
        function(f"{tally}_ins", f"    {insert} {select('new_rows', '')};"),
        f"CREATE TRIGGER {tally}_ins AFTER INSERT ON {source} REFERENCING NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {tally}_ins();",
        function(f"{tally}_del", f"    {insert} {select('old_rows', '-')};"),
        f"CREATE TRIGGER {tally}_del AFTER DELETE ON {source} REFERENCING OLD TABLE AS old_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {tally}_del();",
    ]
    if row_level_update:
        old = lambda expr: expr.replace("r.", "OLD.")  # noqa: E731
        new = lambda expr: expr.replace("r.", "NEW.")  # noqa: E731
        values_old = ", ".join([old(e) for e in keys.values()]
                               + [f"-({old(e)})" for e in sums.values()])
        values_new = ", ".join([new(e) for e in keys.values()] + [new(e) for e in sums.values()])
        changed = " OR ".join(f"({old(e)}) IS DISTINCT FROM ({new(e)})"
                              for e in [*keys.values(), *sums.values(),
                                        *([where] if where else [])])
        holds_old = f"({old(where)})" if where else "true"
        holds_new = f"({new(where)})" if where else "true"
        if where:  # a row outside the tally before and after: no call at all
            changed = f"({holds_old} OR {holds_new}) AND ({changed})"
        forward += [
            function(f"{tally}_upd",
                     f"    IF {holds_old} IS TRUE THEN\n        {insert} VALUES ({values_old});\n"
                     f"    END IF;\n"
                     f"    IF {holds_new} IS TRUE THEN\n        {insert} VALUES ({values_new});\n"
                     f"    END IF;"),
            f"CREATE TRIGGER {tally}_upd AFTER UPDATE ON {source} FOR EACH ROW "
            f"WHEN ({changed}) EXECUTE FUNCTION {tally}_upd();",
        ]
    else:
        forward += [
            function(f"{tally}_upd",
                     f"    {insert} SELECT {', '.join(keys)}, "
                     + ", ".join(f"sum({c})" for c in sums)
                     + f" FROM ({select('old_rows', '-')} UNION ALL {select('new_rows', '')})"
                     f" AS c({cols}) GROUP BY {', '.join(keys)} HAVING "
                     # an UPDATE of other columns appends nothing
                     + " OR ".join(f"sum({c}) <> 0" for c in sums) + ";"),
            f"CREATE TRIGGER {tally}_upd AFTER UPDATE ON {source} REFERENCING OLD TABLE AS "
            f"old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {tally}_upd();",
        ]
    forward.append(f"{insert} {select(source, '')};")
    backward = [
        f"DROP TRIGGER IF EXISTS {tally}_{event} ON {source};\n"
        f"DROP FUNCTION IF EXISTS {tally}_{event}();"
        for event in ("ins", "del", "upd")
    ]
    return "\n".join(forward), "\n".join(backward)


def run_on_postgresql(sql: str):
    """A ``RunPython`` function that executes ``sql`` on PostgreSQL only."""

    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


__all__: Sequence[str] = (
    "TALLIES", "Tally", "run_on_postgresql", "tallies_compact", "tallies_kept", "tally_compact",
    "tally_register", "tally_sql",
)
