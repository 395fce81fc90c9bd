"""Sanctions screening: list loaders, fuzzy matching, alerts and account holds."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from compliance.enums import AlertKind, AlertSeverity, AlertStatus
from compliance.holds import invoice_has_sanctions_hit, user_is_on_hold
from compliance.models import AccountHold, ComplianceAlert, SanctionedParty
from compliance.screening import (
    ParsedParty,
    SanctionsListError,
    account_hold_release,
    name_score,
    name_tokens,
    parse_ofac_csv,
    parse_un_xml,
    sanctions_list_load,
    screen_debtor,
    screen_name,
    screen_user,
)
from compliance.services import alert_transition
from tests.factories import InvoiceFactory
from tests.helpers import make_user

DATA = Path(settings.BASE_DIR) / "compliance" / "sanctions_data"
UN_XML = DATA / "un_consolidated_sample.xml"
SDN_CSV = DATA / "ofac_sdn_sample.csv"
ALT_CSV = DATA / "ofac_alt_sample.csv"

# --- Matching (pure) ----------------------------------------------------------------------

MATCHING = [
    ("Mohammed Al-Rashid", "Muhammad al Rashid"),
    ("Mohamed Rasheed", "Muhammad Rashid"),
    ("Иван Петров", "Ivan Petrov"),  # Cyrillic vs Latin
    ("Виктор Кузнецов", "Viktor Kuznetsov"),
    ("Victor Kusnetsov", "Viktor Kuznetsov"),  # misspelled twice
    ("Youssef Hamdan", "Yusuf Hamdan"),
    ("Aleksandr Volkov", "Alexander Volkov"),
    ("Sergey Ivanovich Morozov", "Sergei Morozov"),  # extra patronymic on one side
    ("TIKRITI, Ali Hassan", "Ali Hassan al-Tikriti"),  # list order "LAST, First"
    ("ACME Trading Ltd", "Acme Trading Limited"),  # legal forms
    ("Acme Trading GmbH", "ACME TRADING CO."),
    ("Müller Anlagen", "Mueller Anlagen"),
]

NOT_MATCHING = [
    ("Ivan Petrenko", "Ivan Petrov"),  # different surname, same first name
    ("Maria Schmidt", "Ivan Petrov"),
    ("Peter Ivanov", "Ivan Petrov"),
    ("Hassan Ali", "Hussein Alawi"),
    ("Ali Hassan", "Ali Hussein"),
    ("Bei Spiel GmbH", "Acme Trading Limited"),
    ("Global Shipping Services", "Global Trading Services"),
    ("Petrov", "Ivan Petrov"),  # one shared token is never enough
    ("Investor 3", "Ivan Petrov"),
]


@pytest.mark.parametrize(("a", "b"), MATCHING)
def test_variants_of_the_same_name_score_above_the_threshold(a, b):
    assert settings.SANCTIONS_MATCH_THRESHOLD == 90
    assert name_score(a, b) >= 90, (a, b, name_score(a, b))
    assert name_score(b, a) == name_score(a, b)


@pytest.mark.parametrize(("a", "b"), NOT_MATCHING)
def test_different_names_score_below_the_threshold(a, b):
    assert name_score(a, b) < 90, (a, b, name_score(a, b))


def test_normalization_transliterates_and_drops_particles_and_legal_forms():
    assert name_tokens("Мухаммад аль-Рашид") == ("muhammad", "rashid")
    assert name_tokens("NORTHWIND SAMPLE TRADING COMPANY LIMITED") == (
        "northwind",
        "sample",
        "trading",
    )
    assert name_tokens("Holding GmbH") == ("holding", "gmbh")  # nothing but legal forms: kept
    assert name_tokens("  ") == ()


# --- Loaders ------------------------------------------------------------------------------


def test_un_xml_loader_reads_individuals_entities_and_aliases():
    parties = {p.list_id: p for p in parse_un_xml(UN_XML)}
    assert set(parties) == {"XXi.001", "XXi.002", "XXi.003", "XXe.001"}
    first = parties["XXi.001"]
    assert first.name == "MUHAMMAD ABDULLAH AL-SAMPLEI"
    assert first.party_type == SanctionedParty.PartyType.INDIVIDUAL
    assert "Abu Sample" in first.aliases
    assert "محمد عبدالله السامبلي" in first.aliases  # original script
    assert first.program == "Sample-Sanctions"
    assert first.countries == ("Exampleland",)
    assert first.details["dates_of_birth"] == ["1970-01-01"]
    entity = parties["XXe.001"]
    assert entity.party_type == SanctionedParty.PartyType.ENTITY
    assert entity.aliases == ("Northwind Sample Trading FZE", "NSTC Holdings")


def test_ofac_csv_loader_reads_types_programs_and_alt_names():
    parties = {p.list_id: p for p in parse_ofac_csv(SDN_CSV, ALT_CSV)}
    assert set(parties) == {"9900001", "9900002", "9900003", "9900004"}
    assert parties["9900001"].party_type == SanctionedParty.PartyType.INDIVIDUAL
    assert parties["9900001"].aliases == ("TESTOVA, Anastasiya",)
    assert parties["9900002"].party_type == SanctionedParty.PartyType.ENTITY  # "-0-" type
    assert parties["9900002"].program == "SAMPLE-EO00000] [SAMPLE2"
    assert parties["9900002"].aliases == ("GLOBEX SAMPLE MARITIME", "GLOBEX TEST LINES S.A.")
    assert parties["9900003"].party_type == SanctionedParty.PartyType.VESSEL
    assert parties["9900003"].details["vessel_flag"] == "Exampleland"
    assert "title" not in parties["9900004"].details  # "-0-" is empty
    # Without alt.csv there are no aliases.
    assert parse_ofac_csv(SDN_CSV)[0].aliases == ()


def test_loaders_reject_other_files(tmp_path):
    with pytest.raises(SanctionsListError):
        parse_un_xml(b"<sdnList></sdnList>")
    with pytest.raises(SanctionsListError):
        parse_un_xml(b"not xml")
    with pytest.raises(SanctionsListError):
        parse_ofac_csv(b'1,"X","spaceship","P"\n')


def test_un_xml_loader_refuses_entity_expansion():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;">]><CONSOLIDATED_LIST>&b;</CONSOLIDATED_LIST>'
    )
    with pytest.raises(SanctionsListError, match="EntitiesForbidden"):
        parse_un_xml(bomb)


@pytest.mark.django_db
def test_load_command_is_idempotent_and_removes_delisted_entries(tmp_path):
    out = StringIO()
    call_command(
        "load_sanctions_list", str(UN_XML), "--format", "un-xml", "--no-rescreen", stdout=out
    )
    assert "4 added, 0 updated, 0 unchanged, 0 removed" in out.getvalue()
    assert SanctionedParty.objects.filter(source="UN").count() == 4
    ids = dict(SanctionedParty.objects.values_list("list_id", "pk"))

    out = StringIO()
    call_command(
        "load_sanctions_list", str(UN_XML), "--format", "un-xml", "--no-rescreen", stdout=out
    )
    assert "0 added, 0 updated, 4 unchanged, 0 removed" in out.getvalue()
    assert dict(SanctionedParty.objects.values_list("list_id", "pk")) == ids

    # A new version: one entry delisted, one renamed.
    text = UN_XML.read_text(encoding="utf-8")
    start = text.rindex("<INDIVIDUAL>", 0, text.index("XXi.003"))
    end = text.index("</INDIVIDUAL>", start) + len("</INDIVIDUAL>")
    updated = (text[:start] + text[end:]).replace(
        "NORTHWIND SAMPLE TRADING", "NORTHWIND SAMPLE TRADE"
    )
    new_file = tmp_path / "consolidated.xml"
    new_file.write_text(updated, encoding="utf-8")
    out = StringIO()
    call_command(
        "load_sanctions_list", str(new_file), "--format", "un-xml", "--no-rescreen", stdout=out
    )
    assert "0 added, 1 updated, 2 unchanged, 1 removed" in out.getvalue()
    assert not SanctionedParty.objects.filter(list_id="XXi.003").exists()
    entity = SanctionedParty.objects.get(list_id="XXe.001")
    assert entity.pk == ids["XXe.001"]
    assert entity.name == "NORTHWIND SAMPLE TRADE COMPANY LIMITED"


@pytest.mark.django_db
def test_sources_are_loaded_independently():
    call_command(
        "load_sanctions_list", str(UN_XML), "--format", "un-xml", "--no-rescreen", stdout=StringIO()
    )
    call_command(
        "load_sanctions_list",
        str(SDN_CSV),
        "--format",
        "ofac-csv",
        "--alt",
        str(ALT_CSV),
        "--no-rescreen",
        stdout=StringIO(),
    )
    assert SanctionedParty.objects.filter(source="UN").count() == 4
    assert SanctionedParty.objects.filter(source="OFAC").count() == 4
    assert SanctionedParty.objects.get(source="OFAC", list_id="9900002").aliases == [
        "GLOBEX SAMPLE MARITIME",
        "GLOBEX TEST LINES S.A.",
    ]


@pytest.mark.django_db
def test_an_empty_list_is_refused_and_nothing_is_removed(tmp_path):
    sanctions_list_load(source="OFAC", parties=parse_ofac_csv(SDN_CSV))
    empty = tmp_path / "sdn.csv"
    empty.write_text("\x1a\n")
    with pytest.raises(CommandError, match="empty"):
        call_command(
            "load_sanctions_list",
            str(empty),
            "--format",
            "ofac-csv",
            "--no-rescreen",
            stdout=StringIO(),
        )
    assert SanctionedParty.objects.filter(source="OFAC").count() == 4


@pytest.mark.django_db
def test_load_command_enqueues_rescreening_when_the_list_changed(make_investor):
    investor = make_investor()
    investor.first_name, investor.last_name = "Anastasia", "Testova"
    investor.save(update_fields=["first_name", "last_name"])
    out = StringIO()
    call_command("load_sanctions_list", str(SDN_CSV), "--format", "ofac-csv", stdout=out)
    assert "Re-screening" in out.getvalue()
    # Eager Celery in tests: the re-screening ran and found the investor.
    assert user_is_on_hold(investor)


# --- Screening ----------------------------------------------------------------------------


@pytest.fixture
def lists(db):
    sanctions_list_load(source="UN", parties=parse_un_xml(UN_XML))
    sanctions_list_load(source="OFAC", parties=parse_ofac_csv(SDN_CSV, ALT_CSV))


def test_screen_name_finds_transliterated_and_misspelled_names(lists):
    hits = screen_name("Виктор Кузнецов-Тестов")
    assert [(h.source, h.list_id) for h in hits] == [("UN", "XXi.002")]
    hits = screen_name("Mohamed Al Sampley Abdullah")
    assert hits and hits[0].list_id == "XXi.001" and hits[0].score >= 90
    hits = screen_name("Youssef Hasan")
    assert [h.list_id for h in hits] == ["9900004"]
    assert screen_name("Globex Sample Maritime Ltd")[0].matched_name == "GLOBEX SAMPLE MARITIME"
    assert screen_name("Иван Экзамплов")[0].list_id == "XXi.003"


def test_screen_name_ignores_unrelated_names(lists):
    for name in [
        "Bei Spiel GmbH",
        "Investor 0",
        "Ivan Petrov",
        "Maria Schmidt",
        "Northwind Logistics GmbH",
        "Sample",
        "",
    ]:
        assert screen_name(name) == [], name


def test_screen_name_threshold_is_a_setting(lists, settings):
    assert screen_name("Viktor Kuznetsov-Testova")  # one letter off
    settings.SANCTIONS_MATCH_THRESHOLD = 99.5
    assert screen_name("Viktor Kuznetsov-Testova") == []


def test_screen_name_puts_parties_of_the_country_first_on_ties(db):
    sanctions_list_load(
        source="OFAC",
        parties=[
            ParsedParty(list_id="1", name="Jan Sample", party_type="INDIVIDUAL", countries=("FR",)),
            ParsedParty(list_id="2", name="Jan Sample", party_type="INDIVIDUAL", countries=("DE",)),
        ],
    )
    assert [h.list_id for h in screen_name("Jan Sample", country="DE")] == ["2", "1"]
    assert [h.list_id for h in screen_name("Jan Sample", country="FR")] == ["1", "2"]


def test_a_hit_on_a_user_raises_an_alert_and_holds_the_account(lists, staff):
    user = make_user(
        "INVESTOR",
        "a.testova@example.com",
        kyc={"legal_name": "Anastasiya Testova", "country": "FR", "tax_id": "FR40303265045"},
    )
    assert not user_is_on_hold(user)
    hits = screen_user(user)
    assert [h.list_id for h in hits] == ["9900001"]
    alert = ComplianceAlert.objects.get(user=user)
    assert alert.kind == AlertKind.SANCTIONS_HIT
    assert alert.severity == AlertSeverity.HIGH
    assert alert.evidence["list_id"] == "9900001"
    assert alert.evidence["screened_name"] == "Anastasiya Testova"
    hold = AccountHold.objects.get(user=user)
    assert hold.alert == alert and hold.reason == "SANCTIONS_HIT"
    assert user_is_on_hold(user)

    # Re-screening is idempotent: one alert, one hold.
    screen_user(user)
    assert ComplianceAlert.objects.filter(user=user).count() == 1
    assert AccountHold.objects.filter(user=user).count() == 1

    # Ops clear it as a false positive: released, and later re-screens do not hold again.
    alert_transition(
        alert=alert,
        to_status=AlertStatus.RESOLVED,
        actor=staff,
        reason="Different date of birth: false positive",
    )
    account_hold_release(hold=hold, actor=staff, note="False positive (DOB differs)")
    assert not user_is_on_hold(user)
    screen_user(user)
    assert not user_is_on_hold(user)
    assert AccountHold.objects.filter(user=user).count() == 1


def test_screen_user_also_screens_the_personal_name(lists, make_investor):
    investor = make_investor()
    assert screen_user(investor) == []
    investor.first_name, investor.last_name = "Victor", "Kusnetsov-Testov"
    investor.save(update_fields=["first_name", "last_name"])
    assert [h.list_id for h in screen_user(investor)] == ["XXi.002"]
    assert user_is_on_hold(investor)


def test_clear_users_get_no_alert_and_no_hold(lists, seller, make_investor):
    investor = make_investor()
    assert screen_user(seller) == [] and screen_user(investor) == []
    assert ComplianceAlert.objects.count() == 0
    assert AccountHold.objects.count() == 0


def test_only_staff_release_holds_with_a_note(lists, make_investor, staff):
    from paymint.core.errors import PermissionDenied, ValidationFailed

    investor = make_investor()
    investor.first_name, investor.last_name = "Anastasia", "Testova"
    investor.save(update_fields=["first_name", "last_name"])
    screen_user(investor)
    hold = AccountHold.objects.get(user=investor)
    with pytest.raises(PermissionDenied):
        account_hold_release(hold=hold, actor=investor, note="me")
    with pytest.raises(ValidationFailed):
        account_hold_release(hold=hold, actor=staff, note=" ")
    assert user_is_on_hold(investor)


def test_a_debtor_hit_raises_an_alert_on_the_invoice(lists, seller):

    invoice = InvoiceFactory(mustang=True, seller=seller)
    assert screen_debtor(invoice) == []
    assert not invoice_has_sanctions_hit(invoice)
    invoice.debtor_name = "Northwind Sample Trading FZE"
    hits = screen_debtor(invoice)
    assert [h.list_id for h in hits] == ["XXe.001"]
    alert = ComplianceAlert.objects.get(invoice=invoice)
    assert alert.kind == AlertKind.SANCTIONS_HIT and alert.evidence["subject"] == "debtor"
    assert invoice_has_sanctions_hit(invoice)
    screen_debtor(invoice)
    assert ComplianceAlert.objects.filter(invoice=invoice).count() == 1


def test_rescreen_all_task_screens_users_and_open_invoices(lists, seller, make_investor):
    from compliance.tasks import rescreen_all_task

    clear = make_investor()
    listed = make_investor()
    listed.first_name, listed.last_name = "Muhammad", "Al-Samplei"
    listed.save(update_fields=["first_name", "last_name"])
    invoice = InvoiceFactory(mustang=True, seller=seller)
    type(invoice).objects.filter(pk=invoice.pk).update(debtor_name="Globex Sample Shipping")
    result = rescreen_all_task.delay().get()
    assert result["users_hit"] == 1 and result["invoices_hit"] == 1
    assert user_is_on_hold(listed) and not user_is_on_hold(clear)
    assert invoice_has_sanctions_hit(invoice)


def test_kyc_cannot_be_approved_while_a_sanctions_hit_is_unresolved(lists, staff):
    from accounts.enums import KycStatus
    from accounts.models import KycProfile
    from accounts.services import kyc_approve
    from paymint.core.errors import Conflict

    user = make_user(
        "INVESTOR",
        "a.testova@example.com",
        kyc={"legal_name": "Anastasiya Testova", "country": "FR", "tax_id": "FR40303265045"},
    )
    screen_user(user)  # what the KYC submission enqueues after commit
    profile = KycProfile.objects.get(user=user)
    with pytest.raises(Conflict) as refused:
        kyc_approve(profile=profile, reviewer=staff)
    assert refused.value.code == "SANCTIONS_HOLD_OPEN"
    profile.refresh_from_db()
    assert profile.status == KycStatus.PENDING_REVIEW

    alert = ComplianceAlert.objects.get(user=user)
    alert_transition(alert=alert, to_status=AlertStatus.RESOLVED, actor=staff,
                     reason="Different date of birth: false positive")
    account_hold_release(hold=AccountHold.objects.get(user=user), actor=staff,
                         note="False positive (DOB differs)")
    assert kyc_approve(profile=profile, reviewer=staff).status == KycStatus.APPROVED
