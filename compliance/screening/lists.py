"""Screening lists: parsers for the UN consolidated list (XML), OFAC's SDN list (CSV) and
OpenSanctions' simple CSV (the PEP dataset), and the loader that makes one source's stored
entries exactly a parsed list."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from defusedxml import DefusedXmlException, ElementTree
from django.db import transaction
from django.utils import timezone

from paymint.core.errors import ValidationFailed

from ..error_codes import ComplianceError
from ..models import SanctionedParty

# --- List parsing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedParty:
    list_id: str
    name: str
    party_type: str
    aliases: tuple[str, ...] = ()
    program: str = ""
    countries: tuple[str, ...] = ()
    details: dict = field(default_factory=dict)


class SanctionsListError(ValidationFailed):
    code = ComplianceError.SANCTIONS_LIST_INVALID


def _text(element, tag: str) -> str:
    child = element.find(tag)
    return " ".join((child.text or "").split()) if child is not None and child.text else ""


def _unique(values: Iterable[str], exclude: str = "") -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        value = " ".join((value or "").split())
        if value and value != exclude:
            seen.setdefault(value, None)
    return tuple(seen)


def parse_un_xml(source: str | Path | bytes) -> list[ParsedParty]:
    """Parse the UN Security Council consolidated list XML (``CONSOLIDATED_LIST``).

    Individuals: name = FIRST_NAME .. FOURTH_NAME; aliases = INDIVIDUAL_ALIAS/ALIAS_NAME and
    NAME_ORIGINAL_SCRIPT. Entities: name = FIRST_NAME; aliases = ENTITY_ALIAS/ALIAS_NAME.
    The list id is REFERENCE_NUMBER (e.g. ``QDi.001``), else DATAID.
    """
    try:
        if isinstance(source, bytes):
            root = ElementTree.fromstring(source)
        else:
            root = ElementTree.parse(str(source)).getroot()
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise SanctionsListError(f"Not a readable XML file: {exc!r}") from exc
    if root.tag != "CONSOLIDATED_LIST":
        raise SanctionsListError("Not a UN consolidated list (root is not CONSOLIDATED_LIST).")
    parties: list[ParsedParty] = []
    groups = (
        (
            "INDIVIDUALS/INDIVIDUAL",
            "INDIVIDUAL_ALIAS",
            "INDIVIDUAL_ADDRESS",
            SanctionedParty.PartyType.INDIVIDUAL,
        ),
        ("ENTITIES/ENTITY", "ENTITY_ALIAS", "ENTITY_ADDRESS", SanctionedParty.PartyType.ENTITY),
    )
    for path, alias_tag, address_tag, party_type in groups:
        for element in root.findall(path):
            list_id = _text(element, "REFERENCE_NUMBER") or _text(element, "DATAID")
            name_tags = ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")
            name = " ".join(filter(None, (_text(element, tag) for tag in name_tags)))
            if not list_id or not name:
                continue
            aliases = [_text(alias, "ALIAS_NAME") for alias in element.findall(alias_tag)]
            aliases.append(_text(element, "NAME_ORIGINAL_SCRIPT"))
            countries = [(v.text or "").strip() for v in element.findall("NATIONALITY/VALUE")]
            countries += [_text(a, "COUNTRY") for a in element.findall(address_tag)]
            births = []
            for birth in element.findall("INDIVIDUAL_DATE_OF_BIRTH"):
                value = _text(birth, "DATE") or _text(birth, "YEAR")
                if value:
                    births.append(value)
            details = {
                "dataid": _text(element, "DATAID"),
                "listed_on": _text(element, "LISTED_ON"),
                "comments": _text(element, "COMMENTS1"),
            }
            if births:
                details["dates_of_birth"] = births
            parties.append(
                ParsedParty(
                    list_id=list_id,
                    name=name,
                    party_type=party_type,
                    aliases=_unique(aliases, exclude=name),
                    program=_text(element, "UN_LIST_TYPE"),
                    countries=_unique(countries),
                    details={k: v for k, v in details.items() if v},
                )
            )
    return parties


_OFAC_EMPTY = "-0-"
_OFAC_TYPES = {
    "individual": SanctionedParty.PartyType.INDIVIDUAL,
    "vessel": SanctionedParty.PartyType.VESSEL,
    "aircraft": SanctionedParty.PartyType.AIRCRAFT,
    "": SanctionedParty.PartyType.ENTITY,
}


def _ofac_value(value: str) -> str:
    value = (value or "").strip()
    return "" if value == _OFAC_EMPTY else value


def _read_text(source: str | Path | bytes) -> str:
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _csv_rows(source: str | Path | bytes) -> Iterable[list[str]]:
    text = _read_text(source).replace("\x1a", "")  # OFAC files end with an EOF character
    yield from csv.reader(io.StringIO(text))


def parse_ofac_csv(
    sdn: str | Path | bytes, alt: str | Path | bytes | None = None
) -> list[ParsedParty]:
    """Parse OFAC's ``sdn.csv`` (no header: ent_num, SDN_Name, SDN_Type, Program, Title,
    Call_Sign, Vess_type, Tonnage, GRT, Vess_flag, Vess_owner, Remarks) and, when given,
    ``alt.csv`` (ent_num, alt_num, alt_type, alt_name, alt_remarks) for the aliases.
    ``-0-`` is OFAC's empty value; an empty SDN_Type is an entity."""
    aliases: dict[str, list[str]] = {}
    if alt is not None:
        for row in _csv_rows(alt):
            if len(row) >= 4 and row[0].strip().isdigit() and _ofac_value(row[3]):
                aliases.setdefault(row[0].strip(), []).append(_ofac_value(row[3]))
    parties: list[ParsedParty] = []
    for row in _csv_rows(sdn):
        if len(row) < 4 or not row[0].strip().isdigit():
            continue
        row = row + [""] * (12 - len(row))
        ent_num, name = row[0].strip(), _ofac_value(row[1])
        if not name:
            continue
        sdn_type = _ofac_value(row[2]).lower()
        if sdn_type not in _OFAC_TYPES:
            raise SanctionsListError(f"Unknown SDN_Type {row[2]!r} for ent_num {ent_num}.")
        details = {
            "title": _ofac_value(row[4]),
            "call_sign": _ofac_value(row[5]),
            "vessel_flag": _ofac_value(row[9]),
            "vessel_owner": _ofac_value(row[10]),
            "remarks": _ofac_value(row[11]),
        }
        parties.append(
            ParsedParty(
                list_id=ent_num,
                name=name,
                party_type=_OFAC_TYPES[sdn_type],
                aliases=_unique(aliases.get(ent_num, ()), exclude=name),
                program=_ofac_value(row[3]),
                details={k: v for k, v in details.items() if v},
            )
        )
    return parties


_OPENSANCTIONS_TYPES = {
    "Person": SanctionedParty.PartyType.INDIVIDUAL,
    "Organization": SanctionedParty.PartyType.ENTITY,
    "Company": SanctionedParty.PartyType.ENTITY,
    "LegalEntity": SanctionedParty.PartyType.ENTITY,
    "PublicBody": SanctionedParty.PartyType.ENTITY,
    "Vessel": SanctionedParty.PartyType.VESSEL,
    "Airplane": SanctionedParty.PartyType.AIRCRAFT,
}
_OPENSANCTIONS_REQUIRED = ("id", "schema", "name")
_LIST_ID_MAX = SanctionedParty._meta.get_field("list_id").max_length


def _opensanctions_values(cell: str | None) -> tuple[str, ...]:
    """Split one multi-valued cell: the exporter writes the values as a CSV row of their own
    with ``;`` as delimiter, quoting a value that holds ``;`` or ``"``."""
    if not cell or not cell.strip():
        return ()
    rows = csv.reader(io.StringIO(cell), delimiter=";")
    return _unique(value for row in rows for value in row)


def parse_opensanctions_csv(source: str | Path | bytes) -> list[ParsedParty]:
    """Parse an OpenSanctions "simple CSV" export (``targets.simple.csv``), e.g. of the
    ``peps`` dataset (https://www.opensanctions.org/datasets/peps/).

    Format (OpenSanctions' ``SimpleCSVExporter``, ``zavod/exporters/simplecsv.py``): UTF-8, a
    header row, every field quoted; columns ``id, schema, name, aliases, birth_date,
    countries, addresses, identifiers, sanctions, phones, emails, dataset, first_seen,
    last_seen, last_change`` (older exports lack ``last_change``, newer ones add
    ``program_ids``: columns are read by header name and unknown ones ignored). A multi-valued
    cell is itself a ``;``-delimited CSV row (a value containing ``;`` is quoted). ``name``
    is the entity's caption, ``aliases`` its other names (other scripts included),
    ``countries`` ISO 3166-1 alpha-2 codes in lower case, ``birth_date`` ISO dates, possibly
    partial (``1974`` or ``1974-08``).

    Mapping: ``id`` -> list id; ``schema`` ``Person`` -> individual; ``Organization``,
    ``Company``, ``LegalEntity``, ``PublicBody`` -> entity; ``Vessel``, ``Airplane`` -> vessel,
    aircraft; rows of other schemas (e.g. ``CryptoWallet``, ``Security``: nothing to screen a
    name against) are skipped. Countries are upper-cased; ``program`` is the source datasets'
    titles; details keep the schema, birth dates, addresses, identifiers, sanctions and
    ``first_seen``. Not kept: phones and e-mails (not needed to screen, so not stored),
    ``last_seen`` and ``last_change`` (they move with every daily export and would make an
    unchanged list look changed, re-screening everyone for nothing).

    Raises:
        SanctionsListError: not a readable CSV, no ``id``/``schema``/``name`` header, or an
            entity id longer than ``SanctionedParty.list_id`` holds (64).
    """
    reader = csv.DictReader(io.StringIO(_read_text(source)))
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        raise SanctionsListError(f"Not a readable CSV file: {exc}") from exc
    missing = [column for column in _OPENSANCTIONS_REQUIRED if column not in header]
    if missing:
        raise SanctionsListError(
            "Not an OpenSanctions simple CSV (targets.simple.csv): no "
            f"{', '.join(missing)} column in the header."
        )
    parties: list[ParsedParty] = []
    try:
        for row in reader:
            list_id = (row.get("id") or "").strip()
            name = " ".join((row.get("name") or "").split())
            party_type = _OPENSANCTIONS_TYPES.get((row.get("schema") or "").strip())
            if not list_id or not name or party_type is None:
                continue
            if len(list_id) > _LIST_ID_MAX:
                raise SanctionsListError(f"Entity id longer than {_LIST_ID_MAX}: {list_id!r}.")
            details = {
                "schema": row["schema"].strip(),
                "dates_of_birth": list(_opensanctions_values(row.get("birth_date"))),
                "addresses": list(_opensanctions_values(row.get("addresses"))),
                "identifiers": list(_opensanctions_values(row.get("identifiers"))),
                "sanctions": list(_opensanctions_values(row.get("sanctions"))),
                "first_seen": (row.get("first_seen") or "").strip(),
            }
            parties.append(
                ParsedParty(
                    list_id=list_id,
                    name=name,
                    party_type=party_type,
                    aliases=_unique(_opensanctions_values(row.get("aliases")), exclude=name),
                    program="; ".join(_opensanctions_values(row.get("dataset"))),
                    countries=_unique(
                        code.upper() for code in _opensanctions_values(row.get("countries"))
                    ),
                    details={k: v for k, v in details.items() if v},
                )
            )
    except csv.Error as exc:
        raise SanctionsListError(f"Not a readable CSV file: {exc}") from exc
    return parties


# --- Loading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    source: str
    created: int
    updated: int
    unchanged: int
    removed: int

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)


_PARTY_FIELDS = ("name", "aliases", "party_type", "program", "countries", "details")


def sanctions_list_load(
    *, source: str, parties: list[ParsedParty], allow_empty: bool = False
) -> LoadResult:
    """Make the stored entries of ``source`` exactly ``parties``: insert new list ids, update
    changed ones, delete those no longer on the list. Idempotent; one transaction.

    Raises:
        SanctionsListError: an empty list (a truncated download would wipe the source) unless
            ``allow_empty``; an unknown source.
    """
    if source not in SanctionedParty.Source.values:
        raise SanctionsListError(f"Unknown sanctions list source {source!r}.")
    if not parties and not allow_empty:
        raise SanctionsListError(
            "The list is empty; refusing to remove every entry.",
            code=ComplianceError.SANCTIONS_LIST_EMPTY
        )
    incoming: dict[str, ParsedParty] = {}
    for party in parties:
        previous = incoming.get(party.list_id)
        if previous is not None:  # the same id twice in a file: keep every name
            party = ParsedParty(
                list_id=party.list_id,
                name=previous.name,
                party_type=previous.party_type,
                aliases=_unique(
                    (*previous.aliases, party.name, *party.aliases), exclude=previous.name
                ),
                program=previous.program or party.program,
                countries=_unique((*previous.countries, *party.countries)),
                details=previous.details,
            )
        incoming[party.list_id] = party
    now = timezone.now()
    created = updated = unchanged = 0
    with transaction.atomic():
        existing = {
            p.list_id: p for p in SanctionedParty.objects.select_for_update().filter(source=source)
        }
        new_rows = []
        for list_id, parsed in incoming.items():
            values = {
                "name": parsed.name[:400],
                "aliases": list(parsed.aliases),
                "party_type": parsed.party_type,
                "program": parsed.program[:300],
                "countries": list(parsed.countries),
                "details": parsed.details,
            }
            row = existing.get(list_id)
            if row is None:
                new_rows.append(
                    SanctionedParty(source=source, list_id=list_id, loaded_at=now, **values)
                )
                created += 1
            elif any(getattr(row, name) != values[name] for name in _PARTY_FIELDS):
                for name, value in values.items():
                    setattr(row, name, value)
                row.loaded_at = now
                row.save(update_fields=[*_PARTY_FIELDS, "loaded_at", "updated_at"])
                updated += 1
            else:
                unchanged += 1
        SanctionedParty.objects.bulk_create(new_rows, batch_size=1000)
        gone = [row.pk for list_id, row in existing.items() if list_id not in incoming]
        SanctionedParty.objects.filter(pk__in=gone).delete()
        SanctionedParty.objects.filter(source=source).update(loaded_at=now)
    return LoadResult(
        source=source, created=created, updated=updated, unchanged=unchanged, removed=len(gone)
    )
