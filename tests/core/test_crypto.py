"""Field-level encryption at rest: raw columns, key rotation, lookups, production settings."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import subprocess
import sys
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import KycProfile
from accounts.selectors import kyc_profiles_with_tax_id
from accounts.services import kyc_submit
from paymint.core import crypto
from paymint.core.fields import field_encryption_rotate
from tests.helpers import kyc_ready, make_user

PERSONAL = {
    "legal_name": "Jeanne Investisseur",
    "country": "FR",
    "tax_id": "FR40303265045",
    "address": "12 rue de la Paix, 75002 Paris",
    "date_of_birth": dt.date(1980, 5, 17),
    "identity_document_number": "18AB12345",
    "bank_account_iban": "FR14 2004 1010 0505 0001 3M02 606",
}
ENCRYPTED_COLUMNS = ("tax_id", "address", "date_of_birth", "identity_document_number",
                     "bank_account_iban")


def raw_row(profile_id: int) -> dict:
    columns = ", ".join(ENCRYPTED_COLUMNS + ("tax_id_hash",))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM accounts_kycprofile WHERE id = %s", [profile_id])
        return dict(zip(ENCRYPTED_COLUMNS + ("tax_id_hash",), cursor.fetchone(), strict=True))


@pytest.fixture
def investor_profile(db):
    user = kyc_ready(make_user("INVESTOR", "jeanne@example.com"))
    return kyc_submit(user=user, **PERSONAL)


@pytest.fixture
def old_key(settings):
    return settings.FIELD_ENCRYPTION_KEYS[0]


def test_values_are_unreadable_in_the_raw_columns_and_readable_through_the_orm(
    investor_profile,
):
    raw = raw_row(investor_profile.pk)
    plain = {
        "tax_id": "FR40303265045",
        "address": PERSONAL["address"],
        "date_of_birth": "1980-05-17",
        "identity_document_number": "18AB12345",
        "bank_account_iban": "FR1420041010050500013M02606",
    }
    for column, value in plain.items():
        stored = raw[column]
        assert stored.startswith("gAAAAA"), column  # a Fernet token
        assert value not in stored and value.lower() not in stored.lower()
        assert crypto.decrypt_text(stored) == value
    # Two encryptions of one value differ (random IV): equal values cannot be spotted.
    assert crypto.encrypt_text("FR40303265045") != crypto.encrypt_text("FR40303265045")

    profile = KycProfile.objects.get(pk=investor_profile.pk)
    assert profile.tax_id == "FR40303265045"
    assert profile.address == PERSONAL["address"]
    assert profile.date_of_birth == dt.date(1980, 5, 17)
    assert profile.identity_document_number == "18AB12345"
    assert profile.bank_account_iban == "FR1420041010050500013M02606"
    assert profile.bank_account_masked == "FR14 **** 2606"


def test_blank_values_stay_blank_and_null_stays_null(db):
    seller = kyc_ready(make_user("SELLER", "firma@example.com"))
    profile = kyc_submit(user=seller, legal_name="Firma GmbH", country="DE",
                         tax_id="DE136695976")
    raw = raw_row(profile.pk)
    assert raw["address"] == "" and raw["bank_account_iban"] == ""
    assert raw["date_of_birth"] is None
    profile.refresh_from_db()
    assert profile.address == "" and profile.date_of_birth is None


def test_encrypted_columns_refuse_lookups(investor_profile):
    with pytest.raises(FieldError):
        list(KycProfile.objects.filter(tax_id="FR40303265045"))
    with pytest.raises(FieldError):
        list(KycProfile.objects.filter(address__icontains="Paix"))
    # isnull is the one lookup that still means something.
    assert KycProfile.objects.filter(date_of_birth__isnull=False).count() == 1


def test_tax_id_lookup_goes_through_the_keyed_hash(investor_profile):
    assert investor_profile.tax_id_hash == crypto.lookup_hash("FR40303265045")
    assert len(investor_profile.tax_id_hash) == 64
    assert "FR40303265045" not in raw_row(investor_profile.pk)["tax_id_hash"]
    for spelling in ("FR40303265045", "fr 403 032 650 45", "FR-40303265045"):
        assert list(kyc_profiles_with_tax_id(tax_id=spelling)) == [investor_profile]
    assert not kyc_profiles_with_tax_id(tax_id="FR40303265046").exists()
    assert not kyc_profiles_with_tax_id(tax_id="").exists()


def test_rotation_new_key_in_front_then_command_then_old_key_removed(
    investor_profile, settings, old_key
):
    before = raw_row(investor_profile.pk)
    new_key = Fernet.generate_key().decode()

    # 1. New key in front: old values still read, new writes use the new key.
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    profile = KycProfile.objects.get(pk=investor_profile.pk)
    assert profile.tax_id == "FR40303265045"
    assert profile.date_of_birth == dt.date(1980, 5, 17)
    assert not crypto.is_encrypted_under_newest_key(before["tax_id"])
    # The tax id is still found: the hash under the old key is among the candidates.
    assert list(kyc_profiles_with_tax_id(tax_id="FR40303265045")) == [investor_profile]

    # 2. The command re-encrypts everything under the new key and re-hashes the tax id.
    out = StringIO()
    call_command("rotate_field_encryption_keys", "--batch-size", "2", stdout=out)
    assert "accounts.KycProfile.tax_id: 1 value(s), 1 re-encrypted" in out.getvalue()
    assert "accounts.KycProfile.date_of_birth: 1 value(s), 1 re-encrypted" in out.getvalue()
    after = raw_row(investor_profile.pk)
    new_only = Fernet(new_key.encode())
    for column in ENCRYPTED_COLUMNS:
        assert after[column] != before[column]
        assert new_only.decrypt(after[column].encode())  # readable with the new key alone
    assert after["tax_id_hash"] != before["tax_id_hash"]

    # 3. Idempotent: a second run finds nothing to do and writes nothing.
    out = StringIO()
    call_command("rotate_field_encryption_keys", stdout=out)
    assert "Done: 0 value(s) rewritten" in out.getvalue()
    assert raw_row(investor_profile.pk) == after

    # 4. The old key is removed: everything still reads, the lookup still matches.
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    profile = KycProfile.objects.get(pk=investor_profile.pk)
    assert profile.tax_id == "FR40303265045"
    assert profile.address == PERSONAL["address"]
    assert profile.date_of_birth == dt.date(1980, 5, 17)
    assert profile.bank_account_iban == "FR1420041010050500013M02606"
    assert list(kyc_profiles_with_tax_id(tax_id="FR40303265045")) == [investor_profile]


def test_rotation_walks_every_batch(db, settings, old_key, make_investor, staff):
    investors = [make_investor() for _ in range(5)]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    report = field_encryption_rotate(batch_size=2)  # 5 rows: batches of 2, 2, 1
    assert report.seen["accounts.KycProfile.tax_id"] == 5
    assert report.rotated["accounts.KycProfile.tax_id"] == 5
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    ids = sorted(KycProfile.objects.filter(user__in=investors).values_list("tax_id", flat=True))
    assert len(ids) == 5 and all(i[:2].isalpha() for i in ids)


def test_removing_a_key_before_rotating_fails_loudly(investor_profile, settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.FieldDecryptionError, match="KycProfile.tax_id"):
        KycProfile.objects.get(pk=investor_profile.pk)
    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("rotate_field_encryption_keys", stdout=StringIO())


def test_keys_must_be_configured_and_valid(settings):
    settings.FIELD_ENCRYPTION_KEYS = []
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS"):
        crypto.encrypt_text("x")
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    with pytest.raises(ImproperlyConfigured, match=r"FIELD_ENCRYPTION_KEYS\[0\]"):
        crypto.encrypt_text("x")


def test_the_data_migration_encrypts_plaintext_rows(investor_profile):
    migration = importlib.import_module("accounts.migrations.0003_kyc_encrypted_personal_data")
    with connection.cursor() as cursor:  # as the rows were before the migration
        cursor.execute(
            "UPDATE accounts_kycprofile SET tax_id = %s, address = %s, tax_id_hash = '' "
            "WHERE id = %s",
            ["FR40303265045", "Old plaintext address", investor_profile.pk],
        )

    class Editor:
        pass

    editor = Editor()
    editor.connection = connection
    from django.apps import apps

    migration.encrypt_existing(apps, editor)
    raw = raw_row(investor_profile.pk)
    assert raw["tax_id"].startswith("gAAAAA") and raw["address"].startswith("gAAAAA")
    assert raw["tax_id_hash"] == crypto.lookup_hash("FR40303265045")
    profile = KycProfile.objects.get(pk=investor_profile.pk)
    assert (profile.tax_id, profile.address) == ("FR40303265045", "Old plaintext address")
    migration.encrypt_existing(apps, editor)  # re-running changes nothing
    assert raw_row(investor_profile.pk)["tax_id"] == raw["tax_id"]


def _production_settings(env_overrides: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "FIELD_ENCRYPTION_KEYS"}
    env.update({
        "DJANGO_SETTINGS_MODULE": "paymint.settings.production",
        "DJANGO_SECRET_KEY": "x" * 50,
        "BANK_WEBHOOK_SECRET": "whsec_x",
        **env_overrides,
    })
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=django_settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )


def test_production_refuses_to_start_without_keys():
    missing = _production_settings({})
    assert missing.returncode != 0
    assert "ImproperlyConfigured" in missing.stderr
    assert "FIELD_ENCRYPTION_KEYS must be set in production" in missing.stderr

    malformed = _production_settings({"FIELD_ENCRYPTION_KEYS": "not-a-key"})
    assert malformed.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS[0] is not a Fernet key" in malformed.stderr
