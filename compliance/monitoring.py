"""Transaction monitoring (AML): rules over a user's recent ledger movements.

A *movement* is one journal entry seen from a user: the net change of the user's cash
accounts (``INVESTOR_CASH``, ``SELLER_CASH``) in that entry, in its currency, with the entry's
real posting time (``created_at``; AML windows use real time, not the business clock).
A withdrawal counts when it is requested (``WITHDRAWAL_HOLD``: cash moves to the hold
account); its payout (``WITHDRAWAL_PAID``, hold only), a failed withdrawal's release and
reversals are not movements.

*External* movements are those crossing the platform's boundary: deposits and withdrawals.
*User-initiated* ones add investments (``FUNDING``).

Rules (pure functions over movements; thresholds in ``settings.AML_MONITORING``, amounts in
the movement's own currency, one threshold per currency, EUR's for a currency not listed):

``LARGE_MOVEMENT``
    one external movement >= ``LARGE_MOVEMENT`` (EUR 10,000).
``STRUCTURING``
    >= 3 deposits within 7 days, each in [80 %, 100 %) of ``LARGE_MOVEMENT``.
``RAPID_IN_OUT``
    a withdrawal requested within 48 h of a deposit, of >= 80 % of that deposit, with no
    investment in between.
``VELOCITY``
    more than 10 external movements, or more than ``VELOCITY_MAX_AMOUNT`` (EUR 50,000) of
    them, within 24 h (per currency).
``LINKED_PARTY``
    an investor funds an invoice of a seller they are linked to: same tax id, same legal
    name (normalized as in screening), or same company email domain (public mail providers
    and reserved example domains excluded).
``DORMANT_REACTIVATION``
    a user-initiated movement >= ``DORMANT_REACTIVATION_AMOUNT`` (EUR 5,000) after at least
    180 days without any movement (an account that never moved is new, not dormant).

:func:`monitor_user` raises one ``AML_RULE`` alert per hit, deduplicated by rule, user and
window (the entry, or the first entry of the window), with the movements as evidence.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Sum
from django.utils import timezone

from settlements.enums import AccountKind, EntryKind

from .enums import AlertKind, AlertSeverity
from .services import alert_raise

IN = "IN"
OUT = "OUT"

CASH_KINDS = (AccountKind.INVESTOR_CASH, AccountKind.SELLER_CASH)
#: Entry kinds that are not movements of their own (see the module docstring).
NOT_MOVEMENTS = (EntryKind.WITHDRAWAL_RELEASE, EntryKind.WITHDRAWAL_PAID, EntryKind.REVERSAL)
EXTERNAL_KINDS = frozenset({EntryKind.DEPOSIT, EntryKind.WITHDRAWAL_HOLD})
USER_INITIATED_KINDS = EXTERNAL_KINDS | {EntryKind.FUNDING}

#: Mail domains shared by unrelated people: never evidence of a link.
# fmt: off
PUBLIC_MAIL_DOMAINS = frozenset([
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
    "yahoo.com", "yahoo.co.uk", "icloud.com", "me.com", "aol.com", "gmx.de", "gmx.net",
    "gmx.com", "web.de", "t-online.de", "proton.me", "protonmail.com", "mail.ru", "yandex.ru",
    "yandex.com", "zoho.com", "fastmail.com", "orange.fr", "free.fr", "laposte.net",
    "libero.it", "rediffmail.com", "qq.com", "163.com",
])
# fmt: on
#: RFC 2606 reserved domains (demo and test accounts).
RESERVED_DOMAINS = frozenset({"example.com", "example.org", "example.net", "localhost"})


class Rule:
    LARGE_MOVEMENT = "LARGE_MOVEMENT"
    STRUCTURING = "STRUCTURING"
    RAPID_IN_OUT = "RAPID_IN_OUT"
    VELOCITY = "VELOCITY"
    LINKED_PARTY = "LINKED_PARTY"
    DORMANT_REACTIVATION = "DORMANT_REACTIVATION"


RULE_SEVERITY = {
    Rule.LARGE_MOVEMENT: AlertSeverity.MEDIUM,
    Rule.STRUCTURING: AlertSeverity.HIGH,
    Rule.RAPID_IN_OUT: AlertSeverity.HIGH,
    Rule.VELOCITY: AlertSeverity.MEDIUM,
    Rule.LINKED_PARTY: AlertSeverity.HIGH,
    Rule.DORMANT_REACTIVATION: AlertSeverity.MEDIUM,
}


@dataclass(frozen=True)
class Movement:
    entry_id: int
    kind: str
    direction: str
    amount: Decimal  # positive, in ``currency``
    currency: str
    at: dt.datetime
    invoice_id: int | None = None
    reference: str = ""  # the entry's public id

    def as_evidence(self) -> dict:
        return {
            "entry": self.reference or self.entry_id,
            "kind": self.kind,
            "direction": self.direction,
            "amount": str(self.amount),
            "currency": self.currency,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True)
class PartyIdentity:
    """Who a user is, for the linked-party rule (from the user and the KYC/KYB profile)."""

    user_id: int
    email: str = ""
    legal_name: str = ""
    tax_id: str = ""


@dataclass(frozen=True)
class FundingLink:
    """An investment and the seller of the invoice it funded."""

    movement: Movement
    seller: PartyIdentity


@dataclass(frozen=True)
class RuleHit:
    rule: str
    window_key: str
    title: str
    movements: tuple[Movement, ...]
    details: dict = field(default_factory=dict)

    @property
    def severity(self) -> str:
        return RULE_SEVERITY[self.rule]

    def evidence(self) -> dict:
        return {
            "rule": self.rule,
            **self.details,
            "movements": [m.as_evidence() for m in self.movements],
        }


@dataclass(frozen=True)
class AmlConfig:
    large_movement: dict[str, Decimal]
    structuring_min_deposits: int
    structuring_window: dt.timedelta
    structuring_lower_fraction: Decimal
    rapid_out_window: dt.timedelta
    rapid_out_min_fraction: Decimal
    velocity_window: dt.timedelta
    velocity_max_movements: int
    velocity_max_amount: dict[str, Decimal]
    dormant_after: dt.timedelta
    dormant_reactivation_amount: dict[str, Decimal]
    lookback: dt.timedelta

    @classmethod
    def from_settings(cls) -> AmlConfig:
        c = settings.AML_MONITORING
        return cls(
            large_movement=dict(c["LARGE_MOVEMENT"]),
            structuring_min_deposits=int(c["STRUCTURING_MIN_DEPOSITS"]),
            structuring_window=dt.timedelta(days=c["STRUCTURING_WINDOW_DAYS"]),
            structuring_lower_fraction=Decimal(c["STRUCTURING_LOWER_FRACTION"]),
            rapid_out_window=dt.timedelta(hours=c["RAPID_OUT_WINDOW_HOURS"]),
            rapid_out_min_fraction=Decimal(c["RAPID_OUT_MIN_FRACTION"]),
            velocity_window=dt.timedelta(hours=c["VELOCITY_WINDOW_HOURS"]),
            velocity_max_movements=int(c["VELOCITY_MAX_MOVEMENTS"]),
            velocity_max_amount=dict(c["VELOCITY_MAX_AMOUNT"]),
            dormant_after=dt.timedelta(days=c["DORMANT_DAYS"]),
            dormant_reactivation_amount=dict(c["DORMANT_REACTIVATION_AMOUNT"]),
            lookback=dt.timedelta(days=c["LOOKBACK_DAYS"]),
        )


def _threshold(table: dict[str, Decimal], currency: str) -> Decimal:
    return Decimal(table.get(currency, table["EUR"]))


def _ordered(movements: Iterable[Movement]) -> list[Movement]:
    return sorted(movements, key=lambda m: (m.at, m.entry_id))


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


# --- Rules (pure) ---------------------------------------------------------------------------


def rule_large_movement(movements: Sequence[Movement], config: AmlConfig) -> list[RuleHit]:
    hits = []
    for m in _ordered(movements):
        limit = _threshold(config.large_movement, m.currency)
        if m.kind in EXTERNAL_KINDS and m.amount >= limit:
            what = "deposit" if m.kind == EntryKind.DEPOSIT else "withdrawal"
            hits.append(
                RuleHit(
                    Rule.LARGE_MOVEMENT,
                    f"entry={m.entry_id}",
                    f"Large {what} of {_money(m.amount, m.currency)}",
                    (m,),
                    {"threshold": str(limit)},
                )
            )
    return hits


def _sliding_windows(movements: list[Movement], width: dt.timedelta):
    """For each movement as the end of a window: the movements in ``(end - width, end]``."""
    start = 0
    for end, last in enumerate(movements):
        while movements[start].at <= last.at - width:
            start += 1
        yield movements[start : end + 1]


def _largest_per_anchor(candidates: Iterable[list[Movement]]) -> list[list[Movement]]:
    """Windows sharing a first movement are one finding: keep the largest of each."""
    best: dict[int, list[Movement]] = {}
    for window in candidates:
        anchor = window[0].entry_id
        if anchor not in best or len(window) > len(best[anchor]):
            best[anchor] = window
    return list(best.values())


def rule_structuring(movements: Sequence[Movement], config: AmlConfig) -> list[RuleHit]:
    by_currency: dict[str, list[Movement]] = defaultdict(list)
    for m in _ordered(movements):
        limit = _threshold(config.large_movement, m.currency)
        if (
            m.kind == EntryKind.DEPOSIT
            and limit * config.structuring_lower_fraction <= m.amount < limit
        ):
            by_currency[m.currency].append(m)
    hits = []
    for currency, deposits in by_currency.items():
        windows = (
            w
            for w in _sliding_windows(deposits, config.structuring_window)
            if len(w) >= config.structuring_min_deposits
        )
        for window in _largest_per_anchor(windows):
            total = sum((m.amount for m in window), Decimal(0))
            hits.append(
                RuleHit(
                    Rule.STRUCTURING,
                    f"entry={window[0].entry_id}",
                    f"{len(window)} deposits just below the reporting threshold within "
                    f"{config.structuring_window.days} days ({_money(total, currency)})",
                    tuple(window),
                    {
                        "threshold": str(_threshold(config.large_movement, currency)),
                        "total": str(total),
                    },
                )
            )
    return hits


def rule_rapid_in_out(movements: Sequence[Movement], config: AmlConfig) -> list[RuleHit]:
    ordered = _ordered(movements)
    hits = []
    for index, withdrawal in enumerate(ordered):
        if withdrawal.kind != EntryKind.WITHDRAWAL_HOLD:
            continue
        for earlier in reversed(ordered[:index]):
            if earlier.currency != withdrawal.currency:
                continue
            if withdrawal.at - earlier.at > config.rapid_out_window:
                break
            if earlier.kind == EntryKind.FUNDING:
                break  # the money was invested in between
            if (
                earlier.kind == EntryKind.DEPOSIT
                and withdrawal.amount >= earlier.amount * config.rapid_out_min_fraction
            ):
                hours = (withdrawal.at - earlier.at).total_seconds() / 3600
                hits.append(
                    RuleHit(
                        Rule.RAPID_IN_OUT,
                        f"entry={withdrawal.entry_id}",
                        f"Withdrawal of {_money(withdrawal.amount, withdrawal.currency)} "
                        f"{hours:.0f} h after a deposit of "
                        f"{_money(earlier.amount, earlier.currency)}, not invested",
                        (earlier, withdrawal),
                        {"hours_between": round(hours, 1)},
                    )
                )
                break
    return hits


def rule_velocity(movements: Sequence[Movement], config: AmlConfig) -> list[RuleHit]:
    by_currency: dict[str, list[Movement]] = defaultdict(list)
    for m in _ordered(movements):
        if m.kind in EXTERNAL_KINDS:
            by_currency[m.currency].append(m)
    hits = []
    for currency, external in by_currency.items():
        limit = _threshold(config.velocity_max_amount, currency)
        breaching = (
            w
            for w in _sliding_windows(external, config.velocity_window)
            if len(w) > config.velocity_max_movements
            or sum((m.amount for m in w), Decimal(0)) > limit
        )
        for window in _largest_per_anchor(breaching):
            total = sum((m.amount for m in window), Decimal(0))
            hours = int(config.velocity_window.total_seconds() // 3600)
            hits.append(
                RuleHit(
                    Rule.VELOCITY,
                    f"entry={window[0].entry_id}",
                    f"{len(window)} deposits/withdrawals totalling {_money(total, currency)} "
                    f"within {hours} h",
                    tuple(window),
                    {
                        "count": len(window),
                        "total": str(total),
                        "max_movements": config.velocity_max_movements,
                        "max_amount": str(limit),
                    },
                )
            )
    return hits


def _email_domain(email: str) -> str:
    return email.rpartition("@")[2].strip().lower()


def link_reasons(a: PartyIdentity, b: PartyIdentity) -> list[str]:
    """Why two parties look like the same person or group (empty when unrelated)."""
    from .screening import name_tokens

    if a.user_id == b.user_id:
        return ["same user"]
    reasons = []
    tax_a = "".join(ch for ch in a.tax_id.upper() if ch.isalnum())
    if tax_a and tax_a == "".join(ch for ch in b.tax_id.upper() if ch.isalnum()):
        reasons.append("same tax id")
    name_a = tuple(sorted(name_tokens(a.legal_name)))
    if name_a and name_a == tuple(sorted(name_tokens(b.legal_name))):
        reasons.append("same legal name")
    domain = _email_domain(a.email)
    if (
        domain
        and domain == _email_domain(b.email)
        and domain not in PUBLIC_MAIL_DOMAINS
        and domain not in RESERVED_DOMAINS
    ):
        reasons.append("same email domain")
    return reasons


def rule_linked_party(
    investor: PartyIdentity, fundings: Sequence[FundingLink], config: AmlConfig
) -> list[RuleHit]:
    by_seller: dict[int, list[FundingLink]] = defaultdict(list)
    for link in fundings:
        by_seller[link.seller.user_id].append(link)
    hits = []
    for seller_id, links in by_seller.items():
        reasons = link_reasons(investor, links[0].seller)
        if not reasons:
            continue
        movements = tuple(_ordered(link.movement for link in links))
        hits.append(
            RuleHit(
                Rule.LINKED_PARTY,
                f"seller={seller_id}",
                f"Investor funds invoices of a linked seller ({', '.join(reasons)})",
                movements,
                {
                    "reasons": reasons,
                    "seller_user_id": seller_id,
                    "seller_legal_name": links[0].seller.legal_name,
                },
            )
        )
    return hits


def rule_dormant_reactivation(movements: Sequence[Movement], config: AmlConfig) -> list[RuleHit]:
    ordered = _ordered(movements)
    hits = []
    for previous, m in zip(ordered, ordered[1:], strict=False):
        limit = _threshold(config.dormant_reactivation_amount, m.currency)
        gap = m.at - previous.at
        if m.kind in USER_INITIATED_KINDS and gap >= config.dormant_after and m.amount >= limit:
            hits.append(
                RuleHit(
                    Rule.DORMANT_REACTIVATION,
                    f"entry={m.entry_id}",
                    f"{_money(m.amount, m.currency)} after {gap.days} days without activity",
                    (previous, m),
                    {"days_dormant": gap.days, "threshold": str(limit)},
                )
            )
    return hits


def evaluate_rules(
    movements: Sequence[Movement],
    config: AmlConfig,
    *,
    investor: PartyIdentity | None = None,
    fundings: Sequence[FundingLink] = (),
) -> list[RuleHit]:
    """Every rule's hits over one user's movements."""
    hits = [
        *rule_large_movement(movements, config),
        *rule_structuring(movements, config),
        *rule_rapid_in_out(movements, config),
        *rule_velocity(movements, config),
        *rule_dormant_reactivation(movements, config),
    ]
    if investor is not None and fundings:
        hits += rule_linked_party(investor, fundings, config)
    return hits


# --- Reading the ledger and raising alerts --------------------------------------------------


def user_movements(user, *, since: dt.datetime) -> list[Movement]:
    """The user's movements posted since ``since`` (one aggregate query)."""
    from settlements.models import Posting

    rows = (
        Posting.objects.filter(
            account__owner=user, account__kind__in=CASH_KINDS, entry__created_at__gte=since
        )
        .exclude(entry__kind__in=NOT_MOVEMENTS)
        .values(
            "entry_id",
            "entry__kind",
            "entry__created_at",
            "entry__invoice_id",
            "entry__public_id",
            "currency",
        )
        .annotate(net=Sum("amount"))
        .order_by("entry__created_at", "entry_id")
    )
    movements = []
    for row in rows:
        net = Decimal(row["net"] or 0)
        if net == 0:
            continue
        movements.append(
            Movement(
                entry_id=row["entry_id"],
                kind=row["entry__kind"],
                direction=IN if net > 0 else OUT,
                amount=abs(net),
                currency=row["currency"],
                at=row["entry__created_at"],
                invoice_id=row["entry__invoice_id"],
                reference=str(row["entry__public_id"]),
            )
        )
    return movements


def party_identity(user) -> PartyIdentity:
    from accounts.models import KycProfile

    profile = KycProfile.objects.filter(user=user).first()
    return PartyIdentity(
        user_id=user.pk,
        email=user.email or "",
        legal_name=profile.legal_name if profile is not None else "",
        tax_id=profile.tax_id if profile is not None else "",
    )


def _funding_links(movements: Sequence[Movement]) -> list[FundingLink]:
    from accounts.models import KycProfile
    from invoices.models import Invoice

    fundings = [m for m in movements if m.kind == EntryKind.FUNDING and m.invoice_id]
    if not fundings:
        return []
    invoices = Invoice.objects.filter(pk__in={m.invoice_id for m in fundings}).select_related(
        "seller"
    )
    sellers = {inv.pk: inv.seller for inv in invoices}
    profiles = {
        p.user_id: p for p in KycProfile.objects.filter(user__in={s.pk for s in sellers.values()})
    }
    links = []
    for m in fundings:
        seller = sellers[m.invoice_id]
        profile = profiles.get(seller.pk)
        links.append(
            FundingLink(
                m,
                PartyIdentity(
                    user_id=seller.pk,
                    email=seller.email or "",
                    legal_name=profile.legal_name if profile is not None else "",
                    tax_id=profile.tax_id if profile is not None else "",
                ),
            )
        )
    return links


def monitor_user(
    user, *, now: dt.datetime | None = None, config: AmlConfig | None = None
) -> list[RuleHit]:
    """Run every rule over the user's movements of the look-back period and raise one
    ``AML_RULE`` alert per hit (deduplicated: ``aml:<rule>:user=<id>:<window>``). Returns
    the hits found, including those whose alert already existed."""
    config = config or AmlConfig.from_settings()
    now = now or timezone.now()
    movements = user_movements(user, since=now - config.lookback)
    if not movements:
        return []
    fundings = _funding_links(movements)
    investor = party_identity(user) if fundings else None
    hits = evaluate_rules(movements, config, investor=investor, fundings=fundings)
    for hit in hits:
        alert_raise(
            kind=AlertKind.AML_RULE,
            dedupe_key=f"aml:{hit.rule}:user={user.pk}:{hit.window_key}",
            title=f"{user.email}: {hit.title}",
            evidence={"user_email": user.email, **hit.evidence()},
            severity=hit.severity,
            user=user,
        )
    return hits


def monitor_movement(entry_id: int) -> list[RuleHit]:
    """Monitor the users whose cash accounts the journal entry moved (call after commit)."""
    from settlements.models import Posting

    owner_ids = set(
        Posting.objects.filter(entry_id=entry_id, account__owner__isnull=False).values_list(
            "account__owner_id", flat=True
        )
    )
    hits: list[RuleHit] = []
    for user in get_user_model().objects.filter(pk__in=owner_ids).order_by("pk"):
        hits += monitor_user(user)
    return hits


def monitoring_sweep(*, now: dt.datetime | None = None) -> dict:
    """Monitor every user with a movement in the last ``STRUCTURING_WINDOW_DAYS`` (at least
    one day): catches windows that only close with time and anything a missed hook skipped."""
    from settlements.models import Posting

    config = AmlConfig.from_settings()
    now = now or timezone.now()
    recent = now - max(
        config.structuring_window,
        config.rapid_out_window,
        config.velocity_window,
        dt.timedelta(days=1),
    )
    owner_ids = (
        Posting.objects.filter(entry__created_at__gte=recent, account__kind__in=CASH_KINDS)
        .values_list("account__owner_id", flat=True)
        .distinct()
    )
    users = hits = 0
    for user in get_user_model().objects.filter(pk__in=owner_ids).order_by("pk"):
        users += 1
        hits += len(monitor_user(user, now=now, config=config))
    return {"users": users, "hits": hits}
