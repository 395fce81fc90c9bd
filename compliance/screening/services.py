"""Screening of users and debtors against the stored lists: matches, ``SANCTIONS_HIT`` and
``PEP_MATCH`` alerts, account holds (the checks money services make on them are
:mod:`compliance.holds`)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count, Max
from django.utils import timezone
from rapidfuzz import fuzz, process

from accounts.models import KycProfile
from paymint.core.errors import PermissionDenied, ValidationFailed
from paymint.core.permissions import is_active_staff, require_staff

from ..enums import AlertKind, AlertSeverity, AlertStatus
from ..error_codes import ComplianceError
from ..models import AccountHold, AlertNote, ComplianceAlert, SanctionedParty
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
    :func:`compliance.holds.invoice_has_sanctions_hit`); a PEP entry matched raises (once) a MEDIUM
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


#: Marks senior management: who may approve a business relationship with a PEP (FATF R.12,
#: Directive (EU) 2015/849 art. 20(b)), i.e. release a ``PEP_REVIEW`` hold.
PEP_APPROVAL_PERMISSION = "compliance.approve_pep_relationship"
#: Longest EDD finding kept (``AccountHold.edd_source_of_wealth``/``edd_source_of_funds``).
EDD_MAX_LENGTH = AccountHold._meta.get_field("edd_source_of_wealth").max_length


def can_approve_pep_relationship(actor) -> bool:
    """True for active staff holding :data:`PEP_APPROVAL_PERMISSION` (superusers hold every
    permission)."""
    return is_active_staff(actor) and actor.has_perm(PEP_APPROVAL_PERMISSION)


def _edd_findings(*, source_of_wealth: str, source_of_funds: str) -> dict[str, str]:
    """The EDD findings of a PEP release, stripped; refuses missing or over-long ones."""
    findings = {
        "edd_source_of_wealth": " ".join(source_of_wealth.split()),
        "edd_source_of_funds": " ".join(source_of_funds.split()),
    }
    missing = {name: ["Required."] for name, value in findings.items() if not value}
    if missing:
        raise ValidationFailed(
            "Enhanced due diligence is required to release a PEP hold: record the source of "
            "wealth and the source of funds.", code=ComplianceError.EDD_REQUIRED, fields=missing,
        )
    too_long = {name: [f"At most {EDD_MAX_LENGTH} characters."]
                for name, value in findings.items() if len(value) > EDD_MAX_LENGTH}
    if too_long:
        raise ValidationFailed(
            f"Keep each EDD finding under {EDD_MAX_LENGTH} characters.",
            code=ComplianceError.EDD_TOO_LONG,
            fields=too_long,
        )
    return findings


def account_hold_release(
    *,
    hold: AccountHold,
    actor,
    note: str,
    edd_source_of_wealth: str = "",
    edd_source_of_funds: str = "",
) -> AccountHold:
    """Release a hold after review, with a note (the reason); a released hold is returned
    unchanged.

    Sanctions and AML holds: any active staff member releases them with a note.

    ``PEP_REVIEW`` holds: releasing one establishes (or continues) the business relationship
    with a politically exposed person, which FATF Recommendation 12 and Directive (EU)
    2015/849 art. 20(b) allow only with senior-management approval after enhanced due
    diligence. So the actor must be active staff holding :data:`PEP_APPROVAL_PERMISSION`,
    must not be the staff member the PEP alert is assigned to (four eyes: whoever worked the
    case does not approve it; an unassigned alert, or one assigned to someone else, is fine),
    and must give the EDD findings ``edd_source_of_wealth`` and ``edd_source_of_funds``
    (short texts, whitespace collapsed, at most :data:`EDD_MAX_LENGTH` characters each;
    ignored for other holds). ``released_by`` records the approver, and a note on the alert
    records the approval.

    The findings are stored as two fields of the hold rather than in an alert note or the
    alert's evidence: the hold is the record the approval releases (a hold may have no
    alert), a database constraint (``account_hold_pep_release_has_edd``) then guarantees no
    PEP hold is ever released without them, they are diffed into the audit trail with the
    release like every ``AccountHold`` change, and the admin shows them beside the release.
    Alert notes are free text, and the evidence is what screening found, not what ops did.

    Raises:
        PermissionDenied: the actor is not active staff; ``SENIOR_APPROVAL_REQUIRED`` - a PEP
            hold and the actor lacks the permission; ``FOUR_EYES_REQUIRED`` - a PEP hold whose
            alert is assigned to the actor.
        ValidationFailed: ``NOTE_REQUIRED`` without a note; for a PEP hold ``EDD_REQUIRED``
            when a finding is missing, ``EDD_TOO_LONG`` when one is too long.

    Nothing is written when it raises.
    """
    require_staff(actor, "Only operations staff release account holds.",
                  permission="compliance.change_accounthold")
    pep = hold.reason == AccountHold.Reason.PEP_REVIEW
    if pep and not can_approve_pep_relationship(actor):
        raise PermissionDenied(
            "Releasing a PEP hold establishes a business relationship with a politically "
            "exposed person: it needs senior-management approval (permission "
            f"{PEP_APPROVAL_PERMISSION}).", code=ComplianceError.SENIOR_APPROVAL_REQUIRED,
        )
    if not note.strip():
        raise ValidationFailed(
            "A note is required.", code=ComplianceError.NOTE_REQUIRED,
            fields={"note": ["Required."]}
        )
    findings = (
        _edd_findings(source_of_wealth=edd_source_of_wealth, source_of_funds=edd_source_of_funds)
        if pep else {}
    )
    with transaction.atomic():
        locked = AccountHold.objects.select_for_update().get(pk=hold.pk)
        if locked.released_at is not None:
            return locked
        alert = None
        if pep and locked.alert_id is not None:
            alert = ComplianceAlert.objects.select_for_update().get(pk=locked.alert_id)
            if alert.assigned_to_id == actor.pk:
                raise PermissionDenied(
                    "You worked this PEP alert (it is assigned to you): another senior manager "
                    "must approve the relationship.", code=ComplianceError.FOUR_EYES_REQUIRED,
                )
        locked.released_at = timezone.now()
        locked.released_by = actor
        locked.release_note = note.strip()
        for name, value in findings.items():
            setattr(locked, name, value)
        locked.save(update_fields=["released_at", "released_by", "release_note", *findings,
                                   "updated_at"])
        if alert is not None:
            AlertNote.objects.create(
                alert=alert, author=actor,
                text=f"PEP relationship approved (senior management), hold released. "
                f"Source of wealth: {findings['edd_source_of_wealth']}. Source of funds: "
                f"{findings['edd_source_of_funds']}. {locked.release_note}",
            )
    return locked
