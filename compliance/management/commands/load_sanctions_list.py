"""Load (or reload) an official sanctions list and re-screen everyone when it changed.

    manage.py load_sanctions_list --format un-xml consolidated.xml
    manage.py load_sanctions_list --format ofac-csv sdn.csv --alt alt.csv

Idempotent: entries are upserted by (source, list id) and entries no longer on the list are
removed. Refuses an empty file unless ``--allow-empty``.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from compliance.models import SanctionedParty
from compliance.screening import (
    SanctionsListError,
    parse_ofac_csv,
    parse_un_xml,
    sanctions_list_load,
)

FORMATS = {"un-xml": SanctionedParty.Source.UN, "ofac-csv": SanctionedParty.Source.OFAC}


class Command(BaseCommand):
    help = "Load a UN consolidated list (XML) or OFAC SDN list (CSV) into SanctionedParty."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="List file (UN XML, or OFAC sdn.csv)")
        parser.add_argument("--format", required=True, choices=sorted(FORMATS), dest="fmt")
        parser.add_argument(
            "--alt", type=Path, default=None, help="OFAC alt.csv with the aliases (ofac-csv only)"
        )
        parser.add_argument(
            "--allow-empty",
            action="store_true",
            help="Accept a list with no entries (removes every stored entry)",
        )
        parser.add_argument(
            "--no-rescreen",
            action="store_true",
            help="Do not enqueue the re-screening of all users afterwards",
        )

    def handle(
        self,
        *args,
        path: Path,
        fmt: str,
        alt: Path | None,
        allow_empty: bool,
        no_rescreen: bool,
        **options,
    ):
        for file in filter(None, (path, alt)):
            if not file.is_file():
                raise CommandError(f"No such file: {file}")
        if alt is not None and fmt != "ofac-csv":
            raise CommandError("--alt is only for --format ofac-csv")
        try:
            parties = parse_un_xml(path) if fmt == "un-xml" else parse_ofac_csv(path, alt)
            result = sanctions_list_load(
                source=FORMATS[fmt], parties=parties, allow_empty=allow_empty
            )
        except SanctionsListError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"{result.source}: {result.created} added, {result.updated} updated, "
            f"{result.unchanged} unchanged, {result.removed} removed"
        )
        if result.changed and not no_rescreen:
            from compliance.tasks import rescreen_all_task

            rescreen_all_task.delay()
            self.stdout.write("Re-screening of all users and open invoices enqueued.")
