"""Transaction monitoring rules, pure: movements in, hits out (no database).

See :mod:`compliance.monitoring` for the rules and their thresholds."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

from settlements.enums import AccountKind, EntryKind

from ..enums import AlertSeverity
from ..screening import name_tokens

IN = "IN"
OUT = "OUT"

CASH_KINDS = (AccountKind.INVESTOR_CASH, AccountKind.SELLER_CASH)
#: Entry kinds that are not movements of their own (see the module docstring).
NOT_MOVEMENTS = (EntryKind.WITHDRAWAL_RELEASE, EntryKind.WITHDRAWAL_PAID)
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


def history_needed(movement: Movement, config: AmlConfig) -> dt.timedelta | None:
    """How far back before ``movement`` the rules it can trigger look, or None when no rule
    needs any other movement (e.g. an investment below the dormant-reactivation amount).

    A rule hit always ends at a movement (each rule looks back from the movement it is checked
    at), so the hits a new movement can cause are those of the windows ending at it:
    ``STRUCTURING`` (a deposit in the band: deposits of the structuring window),
    ``VELOCITY`` (an external movement: the velocity window), ``RAPID_IN_OUT`` (a withdrawal:
    the rapid-out window) and ``DORMANT_REACTIVATION`` (a user-initiated movement at or above
    its amount: the whole look-back period, to tell a dormant account from a new one).
    ``LARGE_MOVEMENT`` and ``LINKED_PARTY`` need only the movement itself."""
    widths = []
    limit = _threshold(config.large_movement, movement.currency)
    if (
        movement.kind == EntryKind.DEPOSIT
        and limit * config.structuring_lower_fraction <= movement.amount < limit
    ):
        widths.append(config.structuring_window)
    if movement.kind in EXTERNAL_KINDS:
        widths.append(config.velocity_window)
    if movement.kind == EntryKind.WITHDRAWAL_HOLD:
        widths.append(config.rapid_out_window)
    if movement.kind in USER_INITIATED_KINDS and movement.amount >= _threshold(
        config.dormant_reactivation_amount, movement.currency
    ):
        widths.append(config.lookback)
    return max(widths, default=None)


def hits_ending_at(
    movement: Movement,
    history: Sequence[Movement],
    config: AmlConfig,
    *,
    investor: PartyIdentity | None = None,
    fundings: Sequence[FundingLink] = (),
) -> list[RuleHit]:
    """The hits that a new ``movement`` causes: every rule's hits over ``history`` that
    include it. ``history`` is the user's movements up to and including ``movement``, reaching
    at least :func:`history_needed` back from it; the union of these over a user's movements,
    one at a time, is what :func:`evaluate_rules` finds over all of them (same rules and
    windows; property-tested)."""
    return [
        hit
        for hit in evaluate_rules(history, config, investor=investor, fundings=fundings)
        if any(m.entry_id == movement.entry_id for m in hit.movements)
    ]
