"""Load (or reload) a screening list and re-screen everyone when it changed.

    manage.py load_sanctions_list --format un-xml consolidated.xml
    manage.py load_sanctions_list --format ofac-csv sdn.csv --alt alt.csv
    manage.py load_sanctions_list --format opensanctions-csv targets.simple.csv --source PEP

``opensanctions-csv`` is OpenSanctions' simple CSV (``targets.simple.csv``) of the ``peps``
dataset: politically exposed persons, stored as source ``PEP`` (the only source it loads
into, so ``--source`` may be left out). Idempotent: entries are upserted by (source, list id)
and entries no longer on the list are removed. Refuses an empty file unless
``--allow-empty``. A changed list of any source enqueues the re-screening of all users and
open invoices' debtors (``compliance.tasks.rescreen_all_task``) unless ``--no-rescreen``.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from compliance.models import SanctionedParty
from compliance.screening import (
    SanctionsListError,
    parse_ofac_csv,
    parse_opensanctions_csv,
    parse_un_xml,
    sanctions_list_load,
)
from paymint.core.queue import enqueue

Source = SanctionedParty.Source
#: Format -> the sources it may be loaded into (the first is the default).
FORMATS: dict[str, tuple[str, ...]] = {
    "un-xml": (Source.UN,),
    "ofac-csv": (Source.OFAC,),
    "opensanctions-csv": (Source.PEP,),
}


class Command(BaseCommand):
    help = (
        "Load a UN consolidated list (XML), an OFAC SDN list (CSV) or the OpenSanctions PEP "
        "dataset (targets.simple.csv) into SanctionedParty."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "path", type=Path, help="List file (UN XML, OFAC sdn.csv, OpenSanctions CSV)"
        )
        parser.add_argument("--format", required=True, choices=sorted(FORMATS), dest="fmt")
        parser.add_argument(
            "--source",
            choices=Source.values,
            default=None,
            help="Source to load into (default: the format's; opensanctions-csv: PEP)",
        )
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
        source: str | None,
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
        allowed = FORMATS[fmt]
        source = source or allowed[0]
        if source not in allowed:
            raise CommandError(
                f"--format {fmt} loads into --source {'/'.join(allowed)}, not {source}"
            )
        try:
            if fmt == "un-xml":
                parties = parse_un_xml(path)
            elif fmt == "ofac-csv":
                parties = parse_ofac_csv(path, alt)
            else:
                parties = parse_opensanctions_csv(path)
            result = sanctions_list_load(source=source, parties=parties, allow_empty=allow_empty)
        except SanctionsListError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"{result.source}: {result.created} added, {result.updated} updated, "
            f"{result.unchanged} unchanged, {result.removed} removed"
        )
        if result.changed and not no_rescreen:
            enqueue("compliance.tasks.rescreen_all_task")
            self.stdout.write("Re-screening of all users and open invoices enqueued.")
