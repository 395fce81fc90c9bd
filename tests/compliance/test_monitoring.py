"""Transaction monitoring: every rule with a hit and a near miss (pure), then through the real
ledger (deposits, withdrawals, investments), alerts, dedupe, the sweep and the SAR export."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import xml.etree.ElementTree as ET
from decimal import Decimal
from itertools import count

import pytest
from django.utils import timezone
from hypothesis import example, given, settings
from hypothesis import strategies as st

from compliance.enums import AlertKind
from compliance.models import ComplianceAlert
from compliance.monitoring import (
    IN,
    OUT,
    AmlConfig,
    FundingLink,
    Movement,
    PartyIdentity,
    Rule,
    evaluate_rules,
    history_needed,
    hits_ending_at,
    link_reasons,
    monitor_movement,
    monitor_user,
    monitoring_sweep,
    rule_dormant_reactivation,
    rule_large_movement,
    rule_linked_party,
    rule_rapid_in_out,
    rule_structuring,
    rule_velocity,
    user_movements,
)
from compliance.sar import sar_export
from settlements.ledger.integrity import ledger_override
from settlements.models import JournalEntry
from tests.factories import mustang_listing
from tests.helpers import deposit, make_user

T0 = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)
_ids = count(1)


def mv(
    kind: str, amount, *, at=T0, hours: float = 0, days: float = 0, currency="EUR", invoice_id=None
) -> Movement:
    direction = OUT if kind in ("WITHDRAWAL_HOLD", "FUNDING") else IN
    return Movement(
        entry_id=next(_ids),
        kind=kind,
        direction=direction,
        amount=Decimal(str(amount)),
        currency=currency,
        at=at + dt.timedelta(hours=hours, days=days),
        invoice_id=invoice_id,
    )


@pytest.fixture
def config(settings) -> AmlConfig:
    return AmlConfig.from_settings()


def test_thresholds_come_from_settings(config):
    assert config.large_movement["EUR"] == Decimal("10000")
    assert config.structuring_min_deposits == 3
    assert config.structuring_window == dt.timedelta(days=7)
    assert config.rapid_out_window == dt.timedelta(hours=48)
    assert config.velocity_max_movements == 10
    assert config.dormant_after == dt.timedelta(days=180)
    assert config.dormant_reactivation_amount["EUR"] == Decimal("5000")


# --- Large single movement ------------------------------------------------------------------


def test_large_movement_hit_at_the_threshold(config):
    hits = rule_large_movement([mv("DEPOSIT", "10000.00")], config)
    assert [h.rule for h in hits] == [Rule.LARGE_MOVEMENT]
    assert hits[0].evidence()["threshold"] == "10000"
    assert rule_large_movement([mv("WITHDRAWAL_HOLD", "12000")], config)


def test_large_movement_near_miss(config):
    assert rule_large_movement([mv("DEPOSIT", "9999.99")], config) == []
    # Internal movements (investing, receiving an advance) are not external flows.
    assert rule_large_movement([mv("FUNDING", "50000"), mv("DISBURSEMENT", "80000")], config) == []


def test_large_movement_threshold_is_per_currency(config):
    assert rule_large_movement([mv("DEPOSIT", "10500", currency="USD")], config) == []
    assert rule_large_movement([mv("DEPOSIT", "11000", currency="USD")], config)
    assert rule_large_movement([mv("DEPOSIT", "850000", currency="INR")], config) == []
    assert rule_large_movement([mv("DEPOSIT", "10000", currency="CHF")], config)  # EUR's


# --- Structuring ----------------------------------------------------------------------------


def test_structuring_hit_three_deposits_just_below_the_threshold_in_a_week(config):
    deposits = [
        mv("DEPOSIT", "9500", days=0),
        mv("DEPOSIT", "8000", days=3),
        mv("DEPOSIT", "9900", days=6.9),
    ]
    hits = rule_structuring(deposits, config)
    assert len(hits) == 1 and hits[0].rule == Rule.STRUCTURING
    assert hits[0].window_key == f"entry={deposits[0].entry_id}"
    assert hits[0].details["total"] == "27400"


def test_structuring_near_misses(config):
    # Only two in the band.
    assert (
        rule_structuring(
            [
                mv("DEPOSIT", "9500"),
                mv("DEPOSIT", "9500", days=1),
                mv("DEPOSIT", "7999.99", days=2),
            ],
            config,
        )
        == []
    )
    # Three in the band but spread over more than 7 days.
    assert (
        rule_structuring(
            [
                mv("DEPOSIT", "9500"),
                mv("DEPOSIT", "9500", days=4),
                mv("DEPOSIT", "9500", days=7.01),
            ],
            config,
        )
        == []
    )
    # At the threshold is a large movement, not structuring.
    assert (
        rule_structuring(
            [mv("DEPOSIT", "10000"), mv("DEPOSIT", "9500", days=1), mv("DEPOSIT", "9500", days=2)],
            config,
        )
        == []
    )


def test_structuring_a_longer_run_is_one_finding(config):
    deposits = [mv("DEPOSIT", "9000", days=d) for d in (0, 1, 2, 3, 4)]
    hits = rule_structuring(deposits, config)
    assert len(hits) == 1 and len(hits[0].movements) == 5


# --- Rapid in-and-out ----------------------------------------------------------------------


def test_rapid_in_out_hit(config):
    movements = [mv("DEPOSIT", "5000"), mv("WITHDRAWAL_HOLD", "4000", hours=47)]
    hits = rule_rapid_in_out(movements, config)
    assert [h.rule for h in hits] == [Rule.RAPID_IN_OUT]
    assert hits[0].window_key == f"entry={movements[1].entry_id}"


def test_rapid_in_out_near_misses(config):
    # Too late.
    assert (
        rule_rapid_in_out([mv("DEPOSIT", "5000"), mv("WITHDRAWAL_HOLD", "5000", hours=49)], config)
        == []
    )
    # Too small a share of the deposit.
    assert (
        rule_rapid_in_out(
            [mv("DEPOSIT", "5000"), mv("WITHDRAWAL_HOLD", "3999.99", hours=1)], config
        )
        == []
    )
    # Invested in between.
    assert (
        rule_rapid_in_out(
            [
                mv("DEPOSIT", "5000"),
                mv("FUNDING", "1000", hours=2),
                mv("WITHDRAWAL_HOLD", "4000", hours=3),
            ],
            config,
        )
        == []
    )
    # Another currency.
    assert (
        rule_rapid_in_out(
            [mv("DEPOSIT", "5000"), mv("WITHDRAWAL_HOLD", "5000", hours=1, currency="USD")], config
        )
        == []
    )


# --- Velocity -----------------------------------------------------------------------------


def test_velocity_hit_on_count(config):
    movements = [mv("DEPOSIT", "100", hours=h * 2) for h in range(11)]  # 11 within 20 h
    hits = rule_velocity(movements, config)
    assert [h.rule for h in hits] == [Rule.VELOCITY]
    assert hits[0].details["count"] == 11


def test_velocity_hit_on_amount(config):
    movements = [mv("DEPOSIT", "30000"), mv("WITHDRAWAL_HOLD", "20000.01", hours=23)]
    hits = rule_velocity(movements, config)
    assert len(hits) == 1 and hits[0].details["total"] == "50000.01"


def test_velocity_near_misses(config):
    # Ten movements in 24 h is the limit, not above it.
    assert rule_velocity([mv("DEPOSIT", "100", hours=h * 2) for h in range(10)], config) == []
    # Eleven, but spread over more than 24 h.
    assert rule_velocity([mv("DEPOSIT", "100", hours=h * 2.5) for h in range(11)], config) == []
    # Exactly the amount limit.
    assert (
        rule_velocity([mv("DEPOSIT", "30000"), mv("WITHDRAWAL_HOLD", "20000", hours=23)], config)
        == []
    )
    # Investments are not counted.
    assert rule_velocity([mv("FUNDING", "100", hours=h) for h in range(20)], config) == []


# --- Linked parties -----------------------------------------------------------------------

INVESTOR = PartyIdentity(
    user_id=1,
    email="cfo@nordhafen-capital.de",
    legal_name="Nordhafen Capital GmbH",
    tax_id="DE111111111",
)


def test_linked_party_hits_on_tax_id_name_or_company_domain(config):
    by_tax = PartyIdentity(
        user_id=2, email="x@other.de", legal_name="Other AG", tax_id="de 111111111"
    )
    by_name = PartyIdentity(
        user_id=3, email="x@third.de", legal_name="NORDHAFEN CAPITAL", tax_id="DE222222222"
    )
    by_domain = PartyIdentity(
        user_id=4,
        email="sales@nordhafen-capital.de",
        legal_name="Nordhafen Trading KG",
        tax_id="DE333333333",
    )
    fundings = [
        FundingLink(mv("FUNDING", "1000", invoice_id=10), by_tax),
        FundingLink(mv("FUNDING", "1000", invoice_id=11), by_name),
        FundingLink(mv("FUNDING", "500", invoice_id=12), by_domain),
        FundingLink(mv("FUNDING", "700", invoice_id=13), by_domain),
    ]
    hits = {h.details["seller_user_id"]: h for h in rule_linked_party(INVESTOR, fundings, config)}
    assert hits[2].details["reasons"] == ["same tax id"]
    assert hits[3].details["reasons"] == ["same legal name"]
    assert hits[4].details["reasons"] == ["same email domain"]
    assert len(hits[4].movements) == 2  # one finding per seller
    assert hits[4].window_key == "seller=4"


def test_linked_party_near_misses(config):
    unrelated = [
        PartyIdentity(
            user_id=5,
            email="ceo@nordhafen-logistics.de",
            legal_name="Nordhafen Logistics GmbH",
            tax_id="DE111111112",
        ),
        PartyIdentity(user_id=6, email="a@gmail.com", legal_name="X", tax_id=""),
        PartyIdentity(user_id=7, email="b@example.com", legal_name="Y", tax_id=""),
    ]
    investor = PartyIdentity(
        user_id=1, email="c@gmail.com", legal_name="Nordhafen Capital", tax_id=""
    )
    assert link_reasons(investor, unrelated[1]) == []  # public mail provider
    assert link_reasons(PartyIdentity(1, "a@example.com"), unrelated[2]) == []  # reserved
    fundings = [
        FundingLink(mv("FUNDING", "1000", invoice_id=20 + i), seller)
        for i, seller in enumerate(unrelated)
    ]
    assert rule_linked_party(INVESTOR, fundings, config) == []


# --- Dormant account ------------------------------------------------------------------------


def test_dormant_reactivation_hit(config):
    movements = [mv("DEPOSIT", "100"), mv("DEPOSIT", "5000", days=180)]
    hits = rule_dormant_reactivation(movements, config)
    assert [h.rule for h in hits] == [Rule.DORMANT_REACTIVATION]
    assert hits[0].details["days_dormant"] == 180


def test_dormant_reactivation_near_misses(config):
    # 179 days is not dormant.
    assert (
        rule_dormant_reactivation([mv("DEPOSIT", "100"), mv("DEPOSIT", "9000", days=179)], config)
        == []
    )
    # Small amount.
    assert (
        rule_dormant_reactivation(
            [mv("DEPOSIT", "100"), mv("DEPOSIT", "4999.99", days=400)], config
        )
        == []
    )
    # A new account is not dormant.
    assert rule_dormant_reactivation([mv("DEPOSIT", "9000")], config) == []
    # Passive money arriving (a settlement paid out) is not the user reactivating.
    assert (
        rule_dormant_reactivation(
            [mv("FUNDING", "6000"), mv("SETTLEMENT", "6100", days=200)], config
        )
        == []
    )


# --- Through the real ledger ----------------------------------------------------------------


def backdate(entry_ids, when):
    """Move entries back in time: journal entries are immutable in PostgreSQL, so through the
    ledger's documented, logged escape (settlements.ledger.integrity.ledger_override)."""
    with ledger_override("test: backdate entries for the monitoring windows"):
        JournalEntry.objects.filter(
            pk__in=entry_ids if isinstance(entry_ids, list) else [entry_ids]
        ).update(created_at=when)


def deposit_entry(user, amount, currency="EUR") -> int:
    return deposit(user, amount, currency=currency).entry_id


def test_movements_are_read_from_the_ledger(make_investor):
    from settlements.services.withdrawals import withdrawal_request

    investor = make_investor()
    deposit_entry(investor, "1200")
    withdrawal, _ = withdrawal_request(user=investor, amount="200", currency="EUR")
    movements = user_movements(investor, since=timezone.now() - dt.timedelta(days=1))
    assert [(m.kind, m.direction, m.amount) for m in movements] == [
        ("DEPOSIT", IN, Decimal("1200")),
        ("WITHDRAWAL_HOLD", OUT, Decimal("200")),
    ]


def test_monitor_user_raises_one_deduplicated_alert_per_hit(make_investor):
    investor = make_investor()
    entry_id = deposit_entry(investor, "15000")
    hits = monitor_user(investor)
    assert [h.rule for h in hits] == [Rule.LARGE_MOVEMENT]
    alert = ComplianceAlert.objects.get(user=investor)
    assert alert.kind == AlertKind.AML_RULE
    assert alert.dedupe_key == f"aml:LARGE_MOVEMENT:user={investor.pk}:entry={entry_id}"
    assert alert.evidence["movements"][0]["amount"] == "15000.0000000"
    monitor_user(investor)
    monitor_movement(entry_id)
    assert ComplianceAlert.objects.filter(user=investor).count() == 1


def test_monitor_user_without_findings_raises_nothing(make_investor):
    investor = make_investor()
    deposit_entry(investor, "9999.99")
    assert monitor_user(investor) == []
    assert ComplianceAlert.objects.count() == 0


def test_structuring_and_rapid_out_through_real_deposits_and_withdrawals(make_investor):
    from settlements.services.withdrawals import withdrawal_request

    investor = make_investor()
    now = timezone.now()
    ids = [deposit_entry(investor, amount) for amount in ("9000", "9400", "8800")]
    for days_ago, entry_id in zip((5, 3, 1), ids, strict=True):
        backdate(entry_id, now - dt.timedelta(days=days_ago))
    # Each movement is monitored for the windows that end at it: the third deposit completes
    # the structuring run, the withdrawal the rapid in-and-out.
    assert [h.rule for h in monitor_movement(ids[1])] == []
    assert [h.rule for h in monitor_movement(ids[2])] == [Rule.STRUCTURING]
    withdrawal, _ = withdrawal_request(user=investor, amount="8000", currency="EUR")
    hits = monitor_movement(withdrawal.hold_entry_id)
    assert [h.rule for h in hits] == [Rule.RAPID_IN_OUT]
    assert ComplianceAlert.objects.filter(user=investor).count() == 2
    # The sweep over the whole look-back period finds the same two, and raises nothing new.
    assert sorted(h.rule for h in monitor_user(investor)) == [Rule.RAPID_IN_OUT, Rule.STRUCTURING]
    assert ComplianceAlert.objects.filter(user=investor).count() == 2


def test_history_needed_per_kind_of_movement(config):
    """Only as much history as the rules a movement can trigger look back over."""
    assert history_needed(mv("FUNDING", "200"), config) is None
    assert history_needed(mv("DEPOSIT", "200"), config) == config.velocity_window
    assert history_needed(mv("DEPOSIT", "9000"), config) == config.lookback  # >= 5,000: dormant
    high_dormant = dataclasses.replace(config, dormant_reactivation_amount={"EUR": Decimal(20000)})
    assert history_needed(mv("DEPOSIT", "9000"), high_dormant) == config.structuring_window
    assert history_needed(mv("DEPOSIT", "7000"), high_dormant) == config.velocity_window
    assert history_needed(mv("WITHDRAWAL_HOLD", "200"), config) == config.rapid_out_window
    assert history_needed(mv("FUNDING", "5000"), config) == config.lookback  # dormant check
    assert history_needed(mv("DEPOSIT", "12000"), config) == config.lookback


def test_monitoring_an_investment_does_not_read_the_investors_history(seller, make_investor):
    """The cost of monitoring a small investment does not grow with the investor's past:
    the ledger is read once, for the entry itself."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from marketplace.services import investment_create
    from paymint.core import clock
    from tests.helpers import LISTING_DAY

    investor = make_investor()
    for _ in range(5):
        deposit_entry(investor, "1000")
    listing = mustang_listing(seller)
    with clock.frozen_at(LISTING_DAY):
        investment, _ = investment_create(investor=investor, listing=listing, amount="200.00")
    with CaptureQueriesContext(connection) as queries:
        assert monitor_movement(investment.funding_entry_id) == []
    ledger_reads = [q for q in queries.captured_queries if "settlements_posting" in q["sql"]]
    assert len(ledger_reads) == 1


def test_dormant_account_through_the_ledger(make_investor):
    investor = make_investor()
    old = deposit_entry(investor, "50")
    backdate(old, timezone.now() - dt.timedelta(days=200))
    deposit_entry(investor, "6000")
    assert [h.rule for h in monitor_user(investor)] == [Rule.DORMANT_REACTIVATION]


def test_linked_investor_funding_their_own_seller(seller, staff):
    from marketplace.services import investment_create
    from paymint.core import clock
    from tests.helpers import LISTING_DAY

    twin = make_user(
        "INVESTOR",
        "treasury@bei-spiel.de",
        kyc={"legal_name": "Bei Spiel GmbH", "country": "DE", "tax_id": "DE136695976"},
        approve_by=staff,
    )
    deposit_entry(twin, "5000")
    listing = mustang_listing(seller)
    with clock.frozen_at(LISTING_DAY):
        investment, _ = investment_create(investor=twin, listing=listing, amount="200.00")
    hits = monitor_movement(investment.funding_entry_id)
    linked = [h for h in hits if h.rule == Rule.LINKED_PARTY]
    assert len(linked) == 1
    assert linked[0].details["reasons"] == ["same tax id", "same legal name"]
    alert = ComplianceAlert.objects.get(dedupe_key__startswith=f"aml:LINKED_PARTY:user={twin.pk}")
    assert alert.evidence["seller_user_id"] == seller.pk


def test_an_unrelated_investor_funding_is_not_linked(seller, make_investor):
    from marketplace.services import investment_create
    from paymint.core import clock
    from tests.helpers import LISTING_DAY

    investor = make_investor()  # investor0@example.com: reserved domain, other tax id
    deposit_entry(investor, "5000")
    listing = mustang_listing(seller)
    with clock.frozen_at(LISTING_DAY):
        investment, _ = investment_create(investor=investor, listing=listing, amount="200.00")
    assert monitor_movement(investment.funding_entry_id) == []


def test_monitoring_sweep_task_covers_recently_active_users(make_investor):
    from compliance.tasks import monitoring_sweep_task

    busy, quiet, old = make_investor(), make_investor(), make_investor()
    deposit_entry(busy, "20000")
    deposit_entry(quiet, "20")
    backdate(deposit_entry(old, "30000"), timezone.now() - dt.timedelta(days=30))
    result = monitoring_sweep_task.delay().get()
    assert result == {"users": 2, "hits": 1}
    assert list(ComplianceAlert.objects.values_list("user", flat=True)) == [busy.pk]
    assert monitoring_sweep() == {"users": 2, "hits": 1}  # idempotent
    assert ComplianceAlert.objects.count() == 1


def test_sar_export_json_and_xml(make_investor, staff):
    from compliance.services import alert_add_note

    investor = make_investor()
    deposit_entry(investor, "12000")
    monitor_user(investor)
    alert = ComplianceAlert.objects.get(user=investor)
    alert_add_note(alert=alert, author=staff, text="Source of funds requested.")

    report = json.loads(sar_export(alert, actor=staff))
    assert report["schema"] == "paymint-sar/1"
    assert report["report_id"] == f"SAR-{alert.public_id}"
    assert report["subject"]["email"] == investor.email
    assert report["subject"]["kyc"]["tax_id"] == "FR40303265045"
    assert report["alert"]["kind"] == "AML_RULE"
    assert report["alert"]["evidence"]["rule"] == "LARGE_MOVEMENT"
    assert report["narrative"][0]["text"] == "Source of funds requested."
    assert report["activity"]["movements"][0]["amount"] == "12000.0000000"

    root = ET.fromstring(sar_export(alert, actor=staff, fmt="xml"))  # noqa: S314 - our own output
    assert root.tag == "SuspiciousActivityReport"
    assert root.findtext("subject/email") == investor.email
    assert root.findtext("alert/evidence/rule") == "LARGE_MOVEMENT"
    assert root.findtext("activity/movements/movement/kind") == "DEPOSIT"
    with pytest.raises(ValueError):
        sar_export(alert, actor=staff, fmt="pdf")


# --- Monitoring each movement finds what a full scan finds (property) ----------------------

_KINDS = ("DEPOSIT", "DEPOSIT", "WITHDRAWAL_HOLD", "FUNDING")
# Amounts around every threshold (EUR): structuring band [8,000, 10,000), large 10,000,
# dormant reactivation 5,000 (or 20,000), rapid-out 80 % of a deposit, velocity 50,000 a day.
_AMOUNTS = ("50", "4999.99", "5000", "7200", "8000", "9500", "9999.99", "10000", "18000", "26000")
_GAPS = (
    dt.timedelta(minutes=5),
    dt.timedelta(hours=3),
    dt.timedelta(hours=30),
    dt.timedelta(days=3),
    dt.timedelta(days=8),
    dt.timedelta(days=181),
)


_SOON, _LATER = dt.timedelta(hours=3), dt.timedelta(days=181)


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(_KINDS), st.sampled_from(_AMOUNTS), st.sampled_from(_GAPS)),
        min_size=1,
        max_size=25,
    ),
    dormant_amount=st.sampled_from((None, Decimal(20000))),
)
# One sure hit of each windowed rule, besides what the search finds:
@example(steps=[("DEPOSIT", "18000", _SOON)] * 3, dormant_amount=Decimal(20000))  # velocity, amount
@example(steps=[("DEPOSIT", "50", _SOON)] * 11, dormant_amount=None)  # velocity, count
@example(
    steps=[("DEPOSIT", "9500", dt.timedelta(days=3))] * 3, dormant_amount=Decimal(20000)
)  # structuring
@example(
    steps=[("DEPOSIT", "7200", _SOON), ("WITHDRAWAL_HOLD", "7200", _SOON)],
    dormant_amount=Decimal(20000),
)  # rapid in-and-out
@example(
    steps=[("DEPOSIT", "50", _SOON), ("FUNDING", "5000", _LATER)], dormant_amount=None
)  # dormant reactivation
def test_each_movement_monitored_alone_finds_what_the_full_scan_finds(steps, dormant_amount):
    """The claim :func:`monitor_movement` rests on: the union, over a user's movements one at
    a time, of the hits ending at each movement - computed from only ``history_needed`` of
    history - raises exactly the alerts (rule and window) that all rules over all movements
    raise. Also with a dormant-reactivation amount above the structuring band, so that the
    narrower windows are exercised on their own."""
    config = AmlConfig.from_settings()
    if dormant_amount is not None:
        config = dataclasses.replace(config, dormant_reactivation_amount={"EUR": dormant_amount})
    movements, at = [], T0
    for kind, amount, gap in steps:
        at += gap
        if at - T0 >= config.lookback:
            break
        movements.append(mv(kind, amount, at=at))
    full = {(h.rule, h.window_key) for h in evaluate_rules(movements, config)}
    incremental = set()
    for index, movement in enumerate(movements):
        width = history_needed(movement, config)
        history = (
            [movement]
            if width is None
            else [m for m in movements[: index + 1] if m.at >= movement.at - width]
        )
        incremental |= {(h.rule, h.window_key) for h in hits_ending_at(movement, history, config)}
    assert incremental == full
