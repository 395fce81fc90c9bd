"""Screening of users and debtors against the stored lists: matches, ``SANCTIONS_HIT`` and
``PEP_MATCH`` alerts, account holds, and the checks money services make
(:func:`user_is_on_hold`, :func:`invoice_has_sanctions_hit`, :func:`user_has_screening_hold`)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count, Max
from django.utils import timezone
from rapidfuzz import fuzz, process

from paymint.core.errors import ValidationFailed

from ..enums import AlertKind, AlertSeverity, AlertStatus
from ..models import AccountHold, ComplianceAlert, SanctionedParty
from ..services import alert_raise
from .matching import match_threshold, name_tokens, phonetic_key, tokens_score

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


#: What a PEP match requires before the relationship starts or goes on (alert evidence).
PEP_REQUIRED_ACTION = (
    "Enhanced due diligence (source of wealth and of funds, purpose of the relationship) and "
    "senior-management approval before the relationship is established or continued "
    "(FATF Recommendation 12; Directive (EU) 2015/849 art. 20). A PEP is not a refusal."
)


def _is_pep(match: Match) -> bool:
    return match.source == SanctionedParty.Source.PEP


def _pep_evidence(match: Match) -> dict:
    return {
        "category": "PEP",
        "list_name": SanctionedParty.Source.PEP.label,
        **match.as_evidence(),
        "required_action": PEP_REQUIRED_ACTION,
    }


def screen_user(user) -> list[Match]:
    """Screen a user's KYC legal name and personal name against the lists.

    A sanctions party matched raises (once) a HIGH ``SANCTIONS_HIT`` alert and holds the
    account (reason ``SANCTIONS_HIT``); a PEP entry matched raises (once) a HIGH
    ``PEP_MATCH`` alert whose title and evidence name the entry, the score and the enhanced
    due diligence required, and holds the account (reason ``PEP_REVIEW``) pending that review.
    No hold is placed again for an alert ops already resolved. Returns the matches (empty
    when clear)."""
    matches = _merge(m for name, country in _user_names(user) for m in screen_name(name, country))
    for match in matches:
        if _is_pep(match):
            alert = alert_raise(
                kind=AlertKind.PEP_MATCH,
                dedupe_key=f"pep:user:{user.pk}:{match.list_id}",
                title=f"PEP match, EDD required: {user.email} matches PEP {match.list_id} "
                f"{match.party_name} ({match.score:g})",
                evidence={"subject": "user", "user_email": user.email, **_pep_evidence(match)},
                severity=AlertSeverity.HIGH,
                user=user,
            )
            reason = AccountHold.Reason.PEP_REVIEW
        else:
            alert = alert_raise(
                kind=AlertKind.SANCTIONS_HIT,
                dedupe_key=f"sanctions:user:{user.pk}:{match.source}:{match.list_id}",
                title=f"{user.email} matches {match.source} {match.list_id} {match.party_name} "
                f"({match.score:g})",
                evidence={"subject": "user", "user_email": user.email, **match.as_evidence()},
                severity=AlertSeverity.HIGH,
                user=user,
            )
            reason = AccountHold.Reason.SANCTIONS_HIT
        if alert.status != AlertStatus.RESOLVED:
            account_hold_place(user=user, reason=reason, alert=alert)
    return matches


def screen_debtor(invoice) -> list[Match]:
    """Screen an invoice's debtor name. A sanctions party matched raises (once) a HIGH
    ``SANCTIONS_HIT`` alert on the invoice, which blocks its listing (see
    :func:`invoice_has_sanctions_hit`); a PEP entry matched raises (once) a MEDIUM
    ``PEP_MATCH`` alert for review and does not block it."""
    if not invoice.debtor_name:
        return []
    matches = screen_name(invoice.debtor_name)
    for match in matches:
        subject = {
            "subject": "debtor",
            "invoice": str(invoice.public_id),
            "debtor_tax_id": invoice.debtor_tax_id,
        }
        if _is_pep(match):
            alert_raise(
                kind=AlertKind.PEP_MATCH,
                dedupe_key=f"pep:debtor:{invoice.pk}:{match.list_id}",
                title=f"PEP match, EDD required: debtor {invoice.debtor_name} of invoice "
                f"{invoice.invoice_number} matches PEP {match.list_id} {match.party_name} "
                f"({match.score:g})",
                evidence={**subject, **_pep_evidence(match), "blocks_listing": False},
                severity=AlertSeverity.MEDIUM,
                invoice=invoice,
                user=invoice.seller,
            )
            continue
        alert_raise(
            kind=AlertKind.SANCTIONS_HIT,
            dedupe_key=f"sanctions:debtor:{invoice.pk}:{match.source}:{match.list_id}",
            title=f"Debtor {invoice.debtor_name} of invoice {invoice.invoice_number} matches "
            f"{match.source} {match.list_id} ({match.score:g})",
            evidence={**subject, **match.as_evidence()},
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


#: Holds that come from list screening (KYC approval waits for them; AML holds do not).
SCREENING_HOLD_REASONS = (AccountHold.Reason.SANCTIONS_HIT, AccountHold.Reason.PEP_REVIEW)


def user_has_screening_hold(*, user_id: int) -> bool:
    """True while a sanctions or PEP screening hold on the user is unreleased."""
    return AccountHold.objects.filter(
        user_id=user_id, reason__in=SCREENING_HOLD_REASONS, released_at__isnull=True
    ).exists()


def invoice_has_sanctions_hit(invoice) -> bool:
    """True while a sanctions alert on the invoice's debtor is open, in review or escalated.
    A ``PEP_MATCH`` alert does not count: a debtor linked to a PEP is not prohibited."""
    return ComplianceAlert.objects.filter(
        invoice=invoice,
        kind=AlertKind.SANCTIONS_HIT,
        status__in=[AlertStatus.OPEN, AlertStatus.IN_REVIEW, AlertStatus.ESCALATED],
    ).exists()
