"""Transaction monitoring over the ledger: reads a user's movements, runs the rules of
:mod:`compliance.monitoring.rules` and raises the alerts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Sum
from django.utils import timezone

from accounts.models import KycProfile
from invoices.models import Invoice
from settlements.enums import EntryKind
from settlements.models import Posting

from ..enums import AlertKind
from ..services import alert_raise
from .rules import (
    CASH_KINDS,
    IN,
    NOT_MOVEMENTS,
    OUT,
    AmlConfig,
    FundingLink,
    Movement,
    PartyIdentity,
    RuleHit,
    evaluate_rules,
    history_needed,
    hits_ending_at,
)


def _movement_rows(postings, *group_by: str):
    """Postings grouped per entry and currency (and ``group_by``) into net amounts."""
    return (
        postings.filter(account__kind__in=CASH_KINDS)
        .exclude(entry__kind__in=NOT_MOVEMENTS)
        .values(
            *group_by,
            "entry_id",
            "entry__kind",
            "entry__created_at",
            "entry__invoice_id",
            "entry__public_id",
            "currency",
        )
        .annotate(net=Sum("amount"))
    )


def _movement(row) -> Movement | None:
    net = Decimal(row["net"] or 0)
    if net == 0:
        return None
    return Movement(
        entry_id=row["entry_id"],
        kind=row["entry__kind"],
        direction=IN if net > 0 else OUT,
        amount=abs(net),
        currency=row["currency"],
        at=row["entry__created_at"],
        invoice_id=row["entry__invoice_id"],
        reference=str(row["entry__public_id"]),
    )


def user_movements(user, *, since: dt.datetime, until: Movement | None = None) -> list[Movement]:
    """The user's movements posted since ``since`` (one aggregate query), oldest first; with
    ``until``, only those up to and including that movement (in ``(at, entry_id)`` order)."""
    postings = Posting.objects.filter(account__owner=user, entry__created_at__gte=since)
    if until is not None:
        postings = postings.filter(entry__created_at__lte=until.at)
    rows = _movement_rows(postings).order_by("entry__created_at", "entry_id")
    movements = [m for m in map(_movement, rows) if m is not None]
    if until is not None:
        movements = [m for m in movements if (m.at, m.entry_id) <= (until.at, until.entry_id)]
    return movements


def entry_movements(entry_id: int) -> dict[int, Movement]:
    """Each user's movement in one journal entry: ``{user_id: Movement}`` (one query; users
    whose cash accounts net to zero in the entry are left out)."""
    rows = _movement_rows(
        Posting.objects.filter(entry_id=entry_id, account__owner__isnull=False),
        "account__owner_id",
    )
    found = {}
    for row in rows:
        movement = _movement(row)
        if movement is not None:
            found[row["account__owner_id"]] = movement
    return found


def _identity(user) -> PartyIdentity:
    """A user's identity from the user and their KYC/KYB profile (``user.kyc``, select it
    with the user to save a query)."""
    try:
        profile = user.kyc
    except KycProfile.DoesNotExist:
        profile = None
    return PartyIdentity(
        user_id=user.pk,
        email=user.email or "",
        legal_name=profile.legal_name if profile is not None else "",
        tax_id=profile.tax_id if profile is not None else "",
    )


def party_identity(user) -> PartyIdentity:
    """Who ``user`` is, for the linked-party rule (one query for the profile)."""
    return _identity(get_user_model().objects.select_related("kyc").get(pk=user.pk))


def _funding_links(movements: Sequence[Movement]) -> list[FundingLink]:
    """Each investment among ``movements`` with the seller of the invoice it funded (one
    query: invoices with their sellers and the sellers' profiles)."""
    fundings = [m for m in movements if m.kind == EntryKind.FUNDING and m.invoice_id]
    if not fundings:
        return []
    invoices = (
        Invoice.objects.filter(pk__in={m.invoice_id for m in fundings})
        .select_related("seller__kyc")
        .only("seller__email", "seller__kyc__legal_name", "seller__kyc__tax_id")
    )
    sellers = {invoice.pk: _identity(invoice.seller) for invoice in invoices}
    return [FundingLink(m, sellers[m.invoice_id]) for m in fundings]


def _raise_alerts(user, hits: Sequence[RuleHit]) -> None:
    for hit in hits:
        alert_raise(
            kind=AlertKind.AML_RULE,
            dedupe_key=f"aml:{hit.rule}:user={user.pk}:{hit.window_key}",
            title=f"{user.email}: {hit.title}",
            evidence={"user_email": user.email, **hit.evidence()},
            severity=hit.severity,
            user=user,
        )


def monitor_user(
    user, *, now: dt.datetime | None = None, config: AmlConfig | None = None
) -> list[RuleHit]:
    """Run every rule over the user's movements of the look-back period and raise one
    ``AML_RULE`` alert per hit (deduplicated: ``aml:<rule>:user=<id>:<window>``). Returns
    the hits found, including those whose alert already existed. Reads the whole look-back
    period: for the scheduled sweep; each new movement goes through :func:`monitor_movement`."""
    config = config or AmlConfig.from_settings()
    now = now or timezone.now()
    movements = user_movements(user, since=now - config.lookback)
    if not movements:
        return []
    fundings = _funding_links(movements)
    investor = party_identity(user) if fundings else None
    hits = evaluate_rules(movements, config, investor=investor, fundings=fundings)
    _raise_alerts(user, hits)
    return hits


def monitor_movement(entry_id: int, *, config: AmlConfig | None = None) -> list[RuleHit]:
    """Monitor one new journal entry (call after commit): for each user whose cash accounts it
    moved, the hits of the windows that end at this movement, read from only as much history
    as those rules need (:func:`history_needed`), so the cost does not grow with the user's
    history. Raises one deduplicated alert per hit, as :func:`monitor_user` does; a window that
    closes later with time, or a movement whose hook never ran, is caught by the sweep.

    Returns:
        The hits that include this entry's movement (including those whose alert existed).
    """
    config = config or AmlConfig.from_settings()
    found: list[RuleHit] = []
    movements = entry_movements(entry_id)
    users = (
        get_user_model()
        .objects.select_related("kyc")
        .only("email", "kyc__legal_name", "kyc__tax_id")
        .in_bulk(list(movements))
        if movements
        else {}
    )
    for user_id, movement in sorted(movements.items()):
        user = users[user_id]
        width = history_needed(movement, config)
        history = (
            [movement]
            if width is None
            else user_movements(user, since=movement.at - width, until=movement)
        )
        fundings = _funding_links([movement]) if movement.kind == EntryKind.FUNDING else []
        investor = _identity(user) if fundings else None
        hits = hits_ending_at(movement, history, config, investor=investor, fundings=fundings)
        _raise_alerts(user, hits)
        found += hits
    return found


def monitoring_sweep(*, now: dt.datetime | None = None) -> dict:
    """Monitor every user with a movement in the last ``STRUCTURING_WINDOW_DAYS`` (at least
    one day): catches windows that only close with time and anything a missed hook skipped."""
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
