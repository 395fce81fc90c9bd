"""Sanctions/PEP screening: official list loaders, fuzzy name matching, hits and holds.

Lists
    :func:`parse_un_xml` reads the UN Security Council consolidated list (XML) and
    :func:`parse_ofac_csv` the OFAC SDN list (``sdn.csv`` + optional ``alt.csv``);
    :func:`sanctions_list_load` upserts one source's entries by list id and deletes those no
    longer on it (``manage.py load_sanctions_list``).

Matching (:func:`name_score`, 0-100)
    Both names are transliterated to ASCII (anyascii: Cyrillic, Arabic, accents), lower-cased,
    stripped of punctuation, particles (al, el, bin, van, de, ...) and legal forms (Ltd, GmbH,
    LLC, ...); common transliteration variants of given names are folded (Mohammed/Muhammad,
    Youssef/Yusuf, Alexander/Aleksandr, ...). Tokens are then aligned one-to-one, best pairs
    first, in any order (lists write "LAST, First"); a pair scores 1 when equal, 0.98 when
    their phonetic keys are (kh/h, c/k, z/s, w/v, y/i, doubled letters), else the mean of
    Jaro-Winkler and normalized Levenshtein (Indel) similarity. The name score is the mean
    over the tokens of the shorter name, weighted by token length, so that a listed name
    with extra middle names still matches. A single token against a longer name is compared
    as whole strings (one shared given name is never a hit).

    A hit is a score at or above ``settings.SANCTIONS_MATCH_THRESHOLD`` (default 90): at 90,
    spelling and transliteration variants of the same name match (Ivan Petrov/Иван Петров,
    Victor Kusnetsov/Viktor Kuznetsov) while a different surname (Ivan Petrenko/Ivan Petrov,
    87.5) does not.

Hits
    :func:`screen_user` raises one ``SANCTIONS_HIT`` alert per listed party matched and puts
    the account on hold (:class:`~compliance.models.AccountHold`) until ops release it; an
    alert already resolved as a false positive does not hold the account again.
    :func:`screen_debtor` raises the alert on the invoice. :func:`user_is_on_hold` and
    :func:`invoice_has_sanctions_hit` are what money services check.
"""

from __future__ import annotations

import csv
import io
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from anyascii import anyascii
from defusedxml import DefusedXmlException, ElementTree
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Max
from django.utils import timezone
from rapidfuzz import fuzz, process
from rapidfuzz.distance import JaroWinkler

from paymint.core.errors import ValidationFailed

from ..enums import AlertKind, AlertSeverity, AlertStatus
from ..models import AccountHold, ComplianceAlert, SanctionedParty
from ..services import alert_raise

# --- Name normalization and scoring ---------------------------------------------------------

#: Name particles dropped before matching.
# fmt: off
PARTICLES = frozenset([
    "al", "el", "ul", "bin", "ibn", "bint", "ben", "van", "von", "der", "den", "de", "da", "di",
    "du", "la", "le", "dos", "das", "del",
])
# fmt: on
#: Legal forms and filler words dropped from entity names (kept if nothing else remains).
# fmt: off
LEGAL_FORMS = frozenset([
    "ltd", "limited", "llc", "inc", "incorporated", "corp", "corporation", "co", "company",
    "gmbh", "mbh", "ag", "sa", "sarl", "sas", "srl", "spa", "bv", "nv", "plc", "llp", "lp",
    "kg", "ohg", "ug", "oy", "ab", "as", "asa", "jsc", "ojsc", "pjsc", "cjsc", "ooo", "zao",
    "oao", "fze", "fzco", "fzc", "pte", "pvt", "private", "pty", "sl", "kft", "sro", "doo",
    "ad", "eood", "bhd", "sdn", "tbk", "group", "holding", "holdings", "the", "and", "of", "et",
    "und",
])
# fmt: on
#: Transliteration variants of common given names, folded to one spelling.
NAME_VARIANTS = {
    "muhammad": "mohammed mohamed mohammad muhammed mohamad muhamad mehmet mehmed mohd "
    "mohamud mukhammad mukhamed",
    "yusuf": "youssef yousef yusef youssouf yousif yousuf jusuf",
    "ahmad": "ahmed akhmad akhmed",
    "husayn": "hussein hussain husain husein hossein",
    "hasan": "hassan khasan",
    "abd": "abdul abdel abdal abdoul",
    "abdullah": "abdallah abdulla abdalla",
    "aleksandr": "alexander aleksander alexandre alexandr oleksandr",
    "sergei": "sergey serguei serhiy",
    "yuri": "yury yuriy iouri yurii",
    "osama": "usama",
    "omar": "umar",
    "mustafa": "mostafa moustafa mustapha",
    "ibrahim": "ebrahim ibragim",
    "khalid": "khaled",
    "jamal": "gamal djamal",
    "qasim": "kasim qassem kassem",
    "dmitri": "dmitry dmitriy dimitri",
    "mikhail": "michail mykhailo",
    "nikolai": "nikolay mykola",
}
_CANONICAL = {
    variant: canon for canon, variants in NAME_VARIANTS.items() for variant in variants.split()
}
_PHONETIC = (
    ("kh", "h"),
    ("ph", "f"),
    ("ck", "k"),
    ("q", "k"),
    ("c", "k"),
    ("x", "ks"),
    ("w", "v"),
    ("z", "s"),
    ("dh", "d"),
    ("th", "t"),
    ("gh", "g"),
    ("ou", "u"),
    ("oo", "u"),
    ("ee", "i"),
    ("y", "i"),
    ("j", "i"),
)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_REPEATS = re.compile(r"(.)\1+")


def name_tokens(name: str) -> tuple[str, ...]:
    """Normalized tokens of a name: transliterated, lower-case, no punctuation, particles or
    legal forms, given-name variants folded."""
    text = _NON_ALNUM.sub(" ", anyascii(name or "").lower())
    tokens = [t for t in text.split() if t not in PARTICLES]
    without_forms = [t for t in tokens if t not in LEGAL_FORMS]
    return tuple(_CANONICAL.get(t, t) for t in (without_forms or tokens))


def phonetic_key(token: str) -> str:
    for old, new in _PHONETIC:
        token = token.replace(old, new)
    return _REPEATS.sub(r"\1", token)


def _similarity(a: str, b: str) -> float:
    return (JaroWinkler.normalized_similarity(a, b) + fuzz.ratio(a, b) / 100) / 2


def token_score(a: str, b: str) -> float:
    """Similarity of two normalized tokens, 0-1."""
    if a == b:
        return 1.0
    pa, pb = phonetic_key(a), phonetic_key(b)
    if pa == pb:
        return 0.98
    return max(_similarity(a, b), _similarity(pa, pb))


def tokens_score(query: tuple[str, ...], candidate: tuple[str, ...]) -> float:
    """Score (0-100) of two token tuples; see the module docstring."""
    if not query or not candidate:
        return 0.0
    short, long_ = (query, candidate) if len(query) <= len(candidate) else (candidate, query)
    if len(short) == 1 and len(long_) > 1:
        return round(fuzz.ratio(" ".join(query), " ".join(candidate)), 1)
    pairs = sorted(
        ((token_score(a, b), i, j) for i, a in enumerate(short) for j, b in enumerate(long_)),
        reverse=True,
    )
    used_short: set[int] = set()
    used_long: set[int] = set()
    total = weight = 0.0
    for score, i, j in pairs:
        if i in used_short or j in used_long:
            continue
        used_short.add(i)
        used_long.add(j)
        pair_weight = (len(short[i]) + len(long_[j])) / 2
        total += score * pair_weight
        weight += pair_weight
    return round(100 * total / weight, 1)


def name_score(a: str, b: str) -> float:
    """How alike two names are, 0-100 (100: the same name after normalization)."""
    return tokens_score(name_tokens(a), name_tokens(b))


def match_threshold() -> float:
    return float(getattr(settings, "SANCTIONS_MATCH_THRESHOLD", 90))


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
    code = "SANCTIONS_LIST_INVALID"


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
            "The list is empty; refusing to remove every entry.", code="SANCTIONS_LIST_EMPTY"
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


# --- Screening ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """One listed party matched by a screened name (its best-matching name or alias)."""

    party_id: int
    source: str
    list_id: str
    party_name: str
    matched_name: str
    screened_name: str
    score: float
    party_type: str
    program: str
    countries: tuple[str, ...] = ()

    def as_evidence(self) -> dict:
        return {
            "source": self.source,
            "list_id": self.list_id,
            "party_name": self.party_name,
            "matched_name": self.matched_name,
            "screened_name": self.screened_name,
            "score": self.score,
            "party_type": self.party_type,
            "program": self.program,
            "countries": list(self.countries),
        }


@dataclass(frozen=True)
class _Variant:
    party: SanctionedParty
    name: str
    tokens: tuple[str, ...]


class _Index:
    """All listed names, normalized once per list version (cached per process)."""

    PREFILTER_ABOVE = 2000  # variants; below this every name is scored exactly

    def __init__(self, parties: Iterable[SanctionedParty]):
        self.variants: list[_Variant] = []
        for party in parties:
            for name in (party.name, *party.aliases):
                tokens = name_tokens(name)
                if tokens:
                    self.variants.append(_Variant(party, name, tokens))
        self.keys = [" ".join(phonetic_key(t) for t in v.tokens) for v in self.variants]

    def candidates(self, tokens: tuple[str, ...]) -> Iterable[_Variant]:
        if len(self.variants) <= self.PREFILTER_ABOVE:
            return self.variants
        key = " ".join(phonetic_key(t) for t in tokens)
        found = process.extract(
            key, self.keys, scorer=fuzz.token_set_ratio, score_cutoff=50, limit=None
        )
        return [self.variants[index] for _, _, index in found]


_index_lock = threading.Lock()
_index_cache: dict[str, object] = {}


def _index() -> _Index:
    version = SanctionedParty.objects.aggregate(n=Count("id"), last=Max("updated_at"))
    key = f"{version['n']}:{version['last']}"
    with _index_lock:
        if _index_cache.get("key") != key:
            _index_cache["index"] = _Index(SanctionedParty.objects.order_by("pk"))
            _index_cache["key"] = key
        return _index_cache["index"]  # type: ignore[return-value]


def screen_name(
    name: str, country: str | None = None, *, threshold: float | None = None
) -> list[Match]:
    """Listed parties whose name or an alias scores at or above the threshold against
    ``name``, best first (one match per party). ``country`` (ISO 3166-1 alpha-2) does not
    filter - list nationality data is incomplete - but parties listing it come first on ties."""
    tokens = name_tokens(name)
    if not tokens:
        return []
    threshold = match_threshold() if threshold is None else threshold
    best: dict[int, Match] = {}
    for variant in _index().candidates(tokens):
        score = tokens_score(tokens, variant.tokens)
        if score < threshold:
            continue
        party = variant.party
        if party.pk not in best or score > best[party.pk].score:
            best[party.pk] = Match(
                party_id=party.pk,
                source=party.source,
                list_id=party.list_id,
                party_name=party.name,
                matched_name=variant.name,
                screened_name=name,
                score=score,
                party_type=party.party_type,
                program=party.program,
                countries=tuple(party.countries),
            )
    wanted = (country or "").upper()

    def order(match: Match):
        return (
            -match.score,
            wanted not in {c.upper() for c in match.countries},
            match.source,
            match.list_id,
        )

    return sorted(best.values(), key=order)


def _user_names(user) -> list[tuple[str, str | None]]:
    """(name, country) pairs to screen: the KYC/KYB legal name and the personal name."""
    from accounts.models import KycProfile

    profile = KycProfile.objects.filter(user=user).first()
    country = profile.country if profile is not None and profile.country else None
    names: list[tuple[str, str | None]] = []
    if profile is not None and profile.legal_name:
        names.append((profile.legal_name, country))
    full_name = user.get_full_name().strip()
    if full_name and all(full_name != name for name, _ in names):
        names.append((full_name, country))
    return names


def _merge(matches: Iterable[Match]) -> list[Match]:
    best: dict[int, Match] = {}
    for match in matches:
        if match.party_id not in best or match.score > best[match.party_id].score:
            best[match.party_id] = match
    return sorted(best.values(), key=lambda m: (-m.score, m.source, m.list_id))


def screen_user(user) -> list[Match]:
    """Screen a user's KYC legal name and personal name against the lists.

    Each matched party raises (once) a HIGH ``SANCTIONS_HIT`` alert with the match as
    evidence and puts the account on hold, unless ops already resolved that alert as a false
    positive. Returns the matches (empty when clear)."""
    matches = _merge(m for name, country in _user_names(user) for m in screen_name(name, country))
    for match in matches:
        alert = alert_raise(
            kind=AlertKind.SANCTIONS_HIT,
            dedupe_key=f"sanctions:user:{user.pk}:{match.source}:{match.list_id}",
            title=f"{user.email} matches {match.source} {match.list_id} {match.party_name} "
            f"({match.score:g})",
            evidence={"subject": "user", "user_email": user.email, **match.as_evidence()},
            severity=AlertSeverity.HIGH,
            user=user,
        )
        if alert.status != AlertStatus.RESOLVED:
            account_hold_place(user=user, reason=AccountHold.Reason.SANCTIONS_HIT, alert=alert)
    return matches


def screen_debtor(invoice) -> list[Match]:
    """Screen an invoice's debtor name; each matched party raises (once) a HIGH
    ``SANCTIONS_HIT`` alert on the invoice (see :func:`invoice_has_sanctions_hit`)."""
    if not invoice.debtor_name:
        return []
    matches = screen_name(invoice.debtor_name)
    for match in matches:
        alert_raise(
            kind=AlertKind.SANCTIONS_HIT,
            dedupe_key=f"sanctions:debtor:{invoice.pk}:{match.source}:{match.list_id}",
            title=f"Debtor {invoice.debtor_name} of invoice {invoice.invoice_number} matches "
            f"{match.source} {match.list_id} ({match.score:g})",
            evidence={
                "subject": "debtor",
                "invoice": str(invoice.public_id),
                "debtor_tax_id": invoice.debtor_tax_id,
                **match.as_evidence(),
            },
            severity=AlertSeverity.HIGH,
            invoice=invoice,
            user=invoice.seller,
        )
    return matches


# --- Holds ------------------------------------------------------------------------------------


def account_hold_place(*, user, reason: str, alert: ComplianceAlert | None = None) -> AccountHold:
    """Put the account on hold for ``reason`` (idempotent: returns the active hold)."""
    active = AccountHold.objects.filter(user=user, reason=reason, released_at__isnull=True)
    existing = active.first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return AccountHold.objects.create(user=user, reason=reason, alert=alert)
    except IntegrityError:  # placed concurrently
        return active.get()


def account_hold_release(*, hold: AccountHold, actor, note: str) -> AccountHold:
    """Release a hold after review (staff only, with a note)."""
    from paymint.core.errors import PermissionDenied

    if not (actor.is_staff and actor.is_active):
        raise PermissionDenied("Only operations staff release account holds.")
    if not note.strip():
        raise ValidationFailed(
            "A note is required.", code="NOTE_REQUIRED", fields={"note": ["Required."]}
        )
    with transaction.atomic():
        locked = AccountHold.objects.select_for_update().get(pk=hold.pk)
        if locked.released_at is None:
            locked.released_at = timezone.now()
            locked.released_by = actor
            locked.release_note = note.strip()
            locked.save(update_fields=["released_at", "released_by", "release_note", "updated_at"])
    return locked


def user_is_on_hold(user) -> bool:
    """True while the user has an unreleased hold: money services refuse to move their funds."""
    return AccountHold.objects.filter(user=user, released_at__isnull=True).exists()


def invoice_has_sanctions_hit(invoice) -> bool:
    """True while a sanctions alert on the invoice's debtor is open, in review or escalated."""
    return ComplianceAlert.objects.filter(
        invoice=invoice,
        kind=AlertKind.SANCTIONS_HIT,
        status__in=[AlertStatus.OPEN, AlertStatus.IN_REVIEW, AlertStatus.ESCALATED],
    ).exists()
