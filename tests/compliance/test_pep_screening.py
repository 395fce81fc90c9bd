"""PEP screening: the OpenSanctions simple-CSV loader, PEP alerts and holds on users, PEP
debtors reviewed without blocking the listing, re-screening when the PEP list is loaded."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.urls import reverse

from compliance.enums import AlertKind, AlertSeverity, AlertStatus
from compliance.holds import invoice_has_sanctions_hit, user_is_on_hold
from compliance.models import AccountHold, ComplianceAlert, SanctionedParty
from compliance.screening import (
    SanctionsListError,
    account_hold_release,
    parse_ofac_csv,
    parse_opensanctions_csv,
    parse_un_xml,
    sanctions_list_load,
    screen_debtor,
    screen_user,
)
from compliance.services import alert_transition
from tests.factories import InvoiceFactory
from tests.helpers import make_user

DATA = Path(settings.BASE_DIR) / "compliance" / "sanctions_data"
PEP_CSV = DATA / "opensanctions_peps_sample.csv"
UN_XML = DATA / "un_consolidated_sample.xml"
SDN_CSV = DATA / "ofac_sdn_sample.csv"

HEADER = (
    '"id","schema","name","aliases","birth_date","countries","addresses","identifiers",'
    '"sanctions","phones","emails","dataset","first_seen","last_seen","last_change"\n'
)


def _load_command(path, *extra: str) -> str:
    out = StringIO()
    call_command(
        "load_sanctions_list", str(path), "--format", "opensanctions-csv", *extra, stdout=out
    )
    return out.getvalue()


# --- Loader -------------------------------------------------------------------------------


def test_opensanctions_loader_reads_the_pep_sample():
    parties = {p.list_id: p for p in parse_opensanctions_csv(PEP_CSV)}
    assert len(parties) == 8
    first = parties["sample-pep-0001"]
    assert first.name == "Radomir Fiktivov"
    assert first.party_type == SanctionedParty.PartyType.INDIVIDUAL
    assert first.aliases == ("Radomir Fiktivoff", "Радомир Фиктивов")
    assert first.countries == ("RS",)
    assert first.details["dates_of_birth"] == ["1961-04-12"]
    assert first.program == (
        "Sample Heads of Government (FICTIONAL); Sample Parliament Members (FICTIONAL)"
    )
    # Several and partial birth dates; several countries, upper-cased ISO codes.
    second = parties["sample-pep-0002"]
    assert second.aliases == ("Жанна Примерчук",)
    assert second.details["dates_of_birth"] == ["1974", "1974-08-30"]
    assert second.countries == ("FR", "UA")
    assert parties["sample-pep-0003"].aliases == ("Ελένη Παραδειγματού",)
    assert parties["sample-pep-0004"].aliases == ()
    # A value holding ";" is quoted inside the multi-valued cell: kept whole.
    fifth = parties["sample-pep-0005"]
    assert fifth.details["addresses"] == [
        "Apartado 7, Sampletown",
        "Calle Ficticia 1; 28000 Sampletown",
    ]
    assert fifth.details["identifiers"] == ["SAMPLE-ID-0005"]
    # Not kept: contact data, and the timestamps that move with every export.
    assert "+00 000 000 000" not in str(fifth) and "ana@example.invalid" not in str(fifth)
    assert "last_seen" not in fifth.details and "last_change" not in fifth.details
    # schema -> party type
    types = {lid: (p.details["schema"], p.party_type) for lid, p in parties.items()}
    assert types["sample-pep-0006"] == ("Company", SanctionedParty.PartyType.ENTITY)
    assert types["sample-pep-0007"] == ("Organization", SanctionedParty.PartyType.ENTITY)
    assert types["sample-pep-0008"] == ("LegalEntity", SanctionedParty.PartyType.ENTITY)
    assert parties["sample-pep-0006"].aliases == (
        "Fiktivov Family Holdings Limited",
        "ФФХ Фиктивов",
    )


def test_opensanctions_loader_reads_columns_by_name_and_skips_unscreenable_schemas():
    # An older export (no last_change), columns in another order, a newer extra column.
    text = (
        '"name","id","schema","aliases","countries","program_ids","dataset"\n'
        '"Jan Sample","x-1","Person","Jan Q. Sample","de","P-1","PEPs"\n'
        '"bc1qsample","x-2","CryptoWallet","","","",""\n'
        '"Sample Shipping","x-3","Vessel","","","",""\n'
        '"","x-4","Person","","","",""\n'
    )
    parties = parse_opensanctions_csv(text.encode())
    assert [(p.list_id, p.name, p.party_type) for p in parties] == [
        ("x-1", "Jan Sample", "INDIVIDUAL"),
        ("x-3", "Sample Shipping", "VESSEL"),
    ]
    assert parties[0].aliases == ("Jan Q. Sample",) and parties[0].countries == ("DE",)


def test_opensanctions_loader_rejects_other_files():
    with pytest.raises(SanctionsListError, match="OpenSanctions simple CSV"):
        parse_opensanctions_csv(SDN_CSV)  # OFAC: no header row
    with pytest.raises(SanctionsListError, match="schema"):
        parse_opensanctions_csv(b'"id","name"\n"x-1","Jan Sample"\n')
    with pytest.raises(SanctionsListError, match="longer than 64"):
        parse_opensanctions_csv((HEADER + f'"{"x" * 65}","Person","Jan Sample"\n').encode())


@pytest.mark.django_db
def test_load_command_loads_the_pep_list_and_a_reload_updates_and_removes(tmp_path):
    sanctions_list_load(source="UN", parties=parse_un_xml(UN_XML))
    out = _load_command(PEP_CSV, "--source", "PEP", "--no-rescreen")
    assert "PEP: 8 added, 0 updated, 0 unchanged, 0 removed" in out
    stored = SanctionedParty.objects.get(source="PEP", list_id="sample-pep-0002")
    assert stored.name == "Jeanne Primertchouk"
    assert stored.aliases == ["Жанна Примерчук"]
    assert stored.countries == ["FR", "UA"]
    assert stored.party_type == SanctionedParty.PartyType.INDIVIDUAL
    assert stored.details["dates_of_birth"] == ["1974", "1974-08-30"]
    ids = dict(SanctionedParty.objects.filter(source="PEP").values_list("list_id", "pk"))

    # --source defaults to PEP for this format; the same file again changes nothing.
    assert "0 added, 0 updated, 8 unchanged, 0 removed" in _load_command(PEP_CSV, "--no-rescreen")

    # Next day's export: every last_seen moved, one entry gone, one alias added.
    lines = PEP_CSV.read_text(encoding="utf-8").splitlines(keepends=True)
    lines = [line for line in lines if "sample-pep-0004" not in line]
    text = "".join(lines).replace("2025-01-15T00:00:00", "2025-01-16T00:00:00")
    text = text.replace('"Ελένη Παραδειγματού"', '"Eleni Paradigmatou;Ελένη Παραδειγματού"')
    new_file = tmp_path / "targets.simple.csv"
    new_file.write_text(text, encoding="utf-8")
    out = _load_command(new_file, "--source", "PEP", "--no-rescreen")
    assert "PEP: 0 added, 1 updated, 6 unchanged, 1 removed" in out
    assert not SanctionedParty.objects.filter(list_id="sample-pep-0004").exists()
    eleni = SanctionedParty.objects.get(list_id="sample-pep-0003")
    assert eleni.pk == ids["sample-pep-0003"]
    assert eleni.aliases == ["Eleni Paradigmatou", "Ελένη Παραδειγματού"]
    assert SanctionedParty.objects.filter(source="UN").count() == 4  # other sources untouched


@pytest.mark.django_db
def test_load_command_refuses_a_source_the_format_does_not_load():
    with pytest.raises(CommandError, match="loads into --source PEP"):
        _load_command(PEP_CSV, "--source", "OFAC", "--no-rescreen")
    with pytest.raises(CommandError, match="loads into --source UN"):
        call_command(
            "load_sanctions_list",
            str(UN_XML),
            "--format",
            "un-xml",
            "--source",
            "PEP",
            "--no-rescreen",
            stdout=StringIO(),
        )
    assert not SanctionedParty.objects.exists()


# --- Users --------------------------------------------------------------------------------


@pytest.fixture
def peps(db):
    sanctions_list_load(source="PEP", parties=parse_opensanctions_csv(PEP_CSV))


def _applicant(legal_name: str):
    return make_user(
        "INVESTOR",
        "applicant@example.com",
        kyc={"legal_name": legal_name, "country": "FR", "tax_id": "FR40303265045"},
    )


@pytest.mark.parametrize(
    ("legal_name", "list_id", "matched_name"),
    [
        # Only the Cyrillic alias, transliterated, matches (the Latin name is a French
        # romanization: "Jeanne Primertchouk").
        ("Zhanna Primerchuk", "sample-pep-0002", "Жанна Примерчук"),
        ("Радомир Фиктивов", "sample-pep-0001", "Radomir Fiktivov"),
        ("Eleni Paradigmatou", "sample-pep-0003", "Eleni Paradeigmatou"),  # spelling variant
        ("VOORBEELDSMA, Jan Willem", "sample-pep-0004", "Jan-Willem Voorbeeldsma"),
    ],
)
def test_a_pep_match_holds_the_account_with_an_edd_alert(peps, legal_name, list_id, matched_name):
    user = _applicant(legal_name)
    hits = screen_user(user)
    assert [(h.source, h.list_id, h.matched_name) for h in hits] == [("PEP", list_id, matched_name)]
    alert = ComplianceAlert.objects.get(user=user)
    assert alert.kind == AlertKind.PEP_MATCH  # not a sanctions hit
    assert alert.severity == AlertSeverity.HIGH
    assert alert.title.startswith("PEP match, EDD required: applicant@example.com matches PEP ")
    assert list_id in alert.title and f"({hits[0].score:g})" in alert.title
    assert alert.evidence["category"] == "PEP"
    assert alert.evidence["source"] == "PEP" and alert.evidence["list_id"] == list_id
    assert alert.evidence["matched_name"] == matched_name
    assert alert.evidence["screened_name"] == legal_name
    assert alert.evidence["score"] == hits[0].score >= 90
    assert "senior-management approval" in alert.evidence["required_action"]
    hold = AccountHold.objects.get(user=user)
    assert hold.reason == AccountHold.Reason.PEP_REVIEW and hold.alert == alert
    assert user_is_on_hold(user)
    assert not ComplianceAlert.objects.filter(kind=AlertKind.SANCTIONS_HIT).exists()

    screen_user(user)  # idempotent
    assert ComplianceAlert.objects.filter(user=user).count() == 1
    assert AccountHold.objects.filter(user=user).count() == 1


def test_kyc_cannot_be_approved_until_the_pep_review_is_done(peps, staff):
    from accounts.enums import KycStatus
    from accounts.models import KycProfile
    from accounts.services import kyc_approve, staff_user_create
    from paymint.core.errors import Conflict
    from tests.helpers import STRONG_PASSWORD

    user = _applicant("Zhanna Primerchuk")
    screen_user(user)  # what the KYC submission enqueues after commit
    profile = KycProfile.objects.get(user=user)
    with pytest.raises(Conflict) as refused:
        kyc_approve(profile=profile, reviewer=staff)
    assert refused.value.code == "SANCTIONS_HOLD_OPEN"
    profile.refresh_from_db()
    assert profile.status == KycStatus.PENDING_REVIEW

    alert = ComplianceAlert.objects.get(user=user, kind=AlertKind.PEP_MATCH)
    alert_transition(
        alert=alert,
        to_status=AlertStatus.RESOLVED,
        actor=staff,
        reason="PEP confirmed; EDD done, approved by the MLRO",
    )
    hold = AccountHold.objects.get(user=user)
    senior = staff_user_create(email="board@example.com", password=STRONG_PASSWORD,
                               roles=("senior_management",))
    account_hold_release(
        hold=hold,
        actor=senior,  # holds compliance.approve_pep_relationship
        note="EDD complete, senior management approved",
        edd_source_of_wealth="Ministerial salary, inherited property",
        edd_source_of_funds="Savings account at a French bank",
    )
    assert not user_is_on_hold(user)
    assert kyc_approve(profile=profile, reviewer=staff).status == KycStatus.APPROVED
    screen_user(user)  # reviewed: later re-screens do not hold again
    assert not user_is_on_hold(user)


@pytest.mark.parametrize(
    "legal_name",
    ["Vladimir Fiktivov", "Radomir Fiktivski", "Eleni Paradeisou", "Zhanna Primerova", "Fiktivov"],
)
def test_a_near_miss_is_not_a_pep_match(peps, staff, legal_name):
    from accounts.enums import KycStatus
    from accounts.models import KycProfile
    from accounts.services import kyc_approve

    user = _applicant(legal_name)
    assert screen_user(user) == []
    assert not ComplianceAlert.objects.exists() and not AccountHold.objects.exists()
    profile = KycProfile.objects.get(user=user)
    assert kyc_approve(profile=profile, reviewer=staff).status == KycStatus.APPROVED


def test_a_user_both_sanctioned_and_pep_gets_both_alerts_and_holds(peps):
    from compliance.screening import ParsedParty

    sanctions_list_load(
        source="OFAC",
        parties=[
            ParsedParty(list_id="1", name="FIKTIVOV, Radomir", party_type="INDIVIDUAL"),
        ],
    )
    user = _applicant("Radomir Fiktivov")
    assert {(h.source, h.list_id) for h in screen_user(user)} == {
        ("OFAC", "1"),
        ("PEP", "sample-pep-0001"),
    }
    assert set(ComplianceAlert.objects.values_list("kind", flat=True)) == {
        AlertKind.SANCTIONS_HIT,
        AlertKind.PEP_MATCH,
    }
    assert set(AccountHold.objects.values_list("reason", flat=True)) == {
        AccountHold.Reason.SANCTIONS_HIT,
        AccountHold.Reason.PEP_REVIEW,
    }


# --- Debtors ------------------------------------------------------------------------------


def test_a_debtor_matching_a_pep_entity_is_reviewed_but_not_blocked(peps, seller):
    from marketplace.services import listing_create
    from paymint.core import clock
    from tests.helpers import LISTING_DAY

    invoice = InvoiceFactory(mustang=True, seller=seller)
    type(invoice).objects.filter(pk=invoice.pk).update(
        debtor_name="Fiktivov Family Holdings Limited"
    )
    invoice.refresh_from_db()
    hits = screen_debtor(invoice)
    assert [(h.source, h.list_id) for h in hits] == [("PEP", "sample-pep-0006")]
    alert = ComplianceAlert.objects.get(invoice=invoice)
    assert alert.kind == AlertKind.PEP_MATCH and alert.severity == AlertSeverity.MEDIUM
    assert alert.title.startswith("PEP match, EDD required: debtor Fiktivov Family Holdings")
    assert "sample-pep-0006" in alert.title
    assert alert.evidence["subject"] == "debtor" and alert.evidence["blocks_listing"] is False
    assert alert.evidence["party_type"] == SanctionedParty.PartyType.ENTITY
    assert alert.user == seller
    assert not invoice_has_sanctions_hit(invoice)
    assert not user_is_on_hold(seller)
    screen_debtor(invoice)
    assert ComplianceAlert.objects.filter(invoice=invoice).count() == 1

    with clock.frozen_at(LISTING_DAY):
        listing = listing_create(invoice=invoice, seller=seller)
    assert listing.invoice_id == invoice.pk


# --- List updates -------------------------------------------------------------------------


@pytest.mark.django_db
def test_loading_the_pep_list_rescreens_existing_users_and_debtors(seller, make_investor):

    pep = _applicant("Radomir Fiktivov")
    clear = make_investor()
    invoice = InvoiceFactory(mustang=True, seller=seller)
    type(invoice).objects.filter(pk=invoice.pk).update(debtor_name="Exampleton Municipal Works")
    assert screen_user(pep) == []  # nothing loaded yet

    out = _load_command(PEP_CSV, "--source", "PEP")
    assert "Re-screening of all users and open invoices enqueued." in out
    # Eager Celery in tests: the re-screening ran.
    assert user_is_on_hold(pep) and not user_is_on_hold(clear)
    assert AccountHold.objects.get(user=pep).reason == AccountHold.Reason.PEP_REVIEW
    assert ComplianceAlert.objects.get(user=pep).kind == AlertKind.PEP_MATCH
    debtor_alert = ComplianceAlert.objects.get(invoice=invoice)
    assert debtor_alert.kind == AlertKind.PEP_MATCH
    assert debtor_alert.evidence["list_id"] == "sample-pep-0008"
    assert not invoice_has_sanctions_hit(invoice)


# --- Back office --------------------------------------------------------------------------


def test_pep_alerts_and_holds_are_filtered_and_released_with_a_reason_in_admin(
    peps, senior_staff, ops_client
):  # a senior manager: a PEP hold needs senior-management approval
    user = _applicant("Zhanna Primerchuk")
    screen_user(user)
    alert = ComplianceAlert.objects.get(user=user)
    hold = AccountHold.objects.get(user=user)

    alerts = reverse("admin:compliance_compliancealert_changelist")
    response = ops_client.get(alerts, {"kind__exact": "PEP_MATCH"})
    assert response.status_code == 200
    assert list(response.context["cl"].queryset) == [alert]
    assert "Politically exposed person (PEP) match" in response.content.decode()
    response = ops_client.get(alerts, {"kind__exact": "SANCTIONS_HIT"})
    assert list(response.context["cl"].queryset) == []

    holds = reverse("admin:compliance_accounthold_changelist")
    response = ops_client.get(holds, {"reason__exact": "PEP_REVIEW"})
    assert list(response.context["cl"].queryset) == [hold]
    ops_client.post(
        holds, {"action": "release", "_selected_action": [hold.pk], "apply": "1", "reason": ""}
    )
    assert user_is_on_hold(user)  # no reason, no release
    ops_client.post(
        holds,
        {
            "action": "release",
            "_selected_action": [hold.pk],
            "apply": "1",
            "reason": "EDD complete, senior management approved",
            "edd_source_of_wealth": "Ministerial salary, inherited property",
            "edd_source_of_funds": "Savings account at a French bank",
        },
    )
    hold.refresh_from_db()
    assert hold.released_at is not None
    assert hold.release_note == "EDD complete, senior management approved"
    assert not user_is_on_hold(user)


def test_the_other_formats_still_load(db):
    sanctions_list_load(source="OFAC", parties=parse_ofac_csv(SDN_CSV))
    out = StringIO()
    call_command(
        "load_sanctions_list", str(UN_XML), "--format", "un-xml", "--no-rescreen", stdout=out
    )
    assert "UN: 4 added" in out.getvalue()
    assert SanctionedParty.objects.filter(source="OFAC").count() == 4
