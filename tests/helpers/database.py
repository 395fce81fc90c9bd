"""Test databases cloned from a migrated template (PostgreSQL ``CREATE DATABASE ... TEMPLATE``).

Running the ~100 migrations costs each pytest process about ten seconds of CPU (Django renders
the model states again for every migration), more than any test. So the first process that
migrates keeps a copy of the fresh database as a template named after a hash of every
migration file (``test_<NAME>_tmpl_<hash>``); later processes and runs clone it in well under
a second and then run ``migrate`` as usual, which finds nothing to apply but still sends
``post_migrate`` (content types, permissions, the role groups of ``accounts.roles``). A changed,
added or removed migration changes the hash: the next run migrates from scratch and replaces
the template. ``PAYMINT_TEST_DB_TEMPLATE=0`` turns the cloning off.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from psycopg import sql


def template_enabled(alias: str = "default") -> bool:
    """Whether test databases of ``alias`` are cloned from a template: PostgreSQL only, unless
    ``PAYMINT_TEST_DB_TEMPLATE=0``."""
    return (connections[alias].vendor == "postgresql"
            and os.environ.get("PAYMINT_TEST_DB_TEMPLATE", "1") != "0")


def migrations_key() -> str:
    """12 hex digits of a SHA-256 over every migration on disk (the project's and the installed
    packages'): name and source file bytes."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    digest = hashlib.sha256()
    for app_label, name in sorted(loader.disk_migrations):
        module = sys.modules[type(loader.disk_migrations[(app_label, name)]).__module__]
        digest.update(f"{app_label}.{name}\n".encode())
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:12]


def _admin_connection(settings_dict: dict) -> psycopg.Connection:
    """An autocommit connection to the server's ``postgres`` database, as ``settings_dict``'s
    user."""
    params = {"dbname": "postgres", "user": settings_dict.get("USER"),
              "password": settings_dict.get("PASSWORD"), "host": settings_dict.get("HOST"),
              "port": settings_dict.get("PORT")}
    return psycopg.connect(autocommit=True, **{k: v for k, v in params.items() if v})


@contextmanager
def cloned_test_database(alias: str = "default") -> Iterator[dict]:
    """Inside the block, the test database of ``alias`` (its ``TEST["NAME"]``) is a clone of the
    template when one exists for the current migrations: ``state["cloned"]`` says so. When it
    was not, the block is expected to create and migrate the test database; on leaving it, a
    template is made from it (and templates of older migrations are dropped). The work is done
    under a PostgreSQL advisory lock, so that concurrent processes (pytest-xdist workers) wait
    for the first one's template instead of migrating too."""
    connection = connections[alias]
    settings_dict = connection.settings_dict
    test_name = settings_dict["TEST"]["NAME"]
    prefix = f"test_{settings_dict['NAME']}_tmpl_"
    template = f"{prefix}{migrations_key()}"
    lock_key = int.from_bytes(hashlib.sha256(template.encode()).digest()[:8], "big", signed=True)
    state = {"cloned": False}
    with _admin_connection(settings_dict) as admin:
        admin.execute("SELECT pg_advisory_lock(%s)", [lock_key])
        try:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                   [template]).fetchone()
            if exists:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(
                    sql.Identifier(test_name)))
                admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(test_name), sql.Identifier(template)))
                state["cloned"] = True
            yield state
            if not state["cloned"]:
                connection.close()  # a template must have no other session
                admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(template), sql.Identifier(test_name)))
                stale = admin.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE %s AND datname <> %s",
                    [prefix.replace("_", r"\_") + "%", template]).fetchall()
                for (name,) in stale:
                    # Being cloned by another run right now: dropped next time.
                    with suppress(psycopg.Error):
                        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(
                            sql.Identifier(name)))
        finally:
            admin.execute("SELECT pg_advisory_unlock(%s)", [lock_key])
