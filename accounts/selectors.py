"""Reads for accounts and KYC/KYB."""

from __future__ import annotations

from django.db import connection
from django.db.models import Exists, QuerySet

from compliance.public import OPEN_HOLD_EXISTS_SQL
from paymint.core.crypto import lookup_hashes

from .enums import KycStatus
from .models import KycProfile, User


def kyc_is_approved(*, user: User) -> bool:
    """True when the user has an approved KYC/KYB profile."""
    return KycProfile.objects.filter(user=user, status=KycStatus.APPROVED).exists()


def kyc_approved_expression(user_ref) -> Exists:
    """The rule of :func:`kyc_is_approved` as an ``EXISTS`` on ``user_ref`` (a pk or an
    ``OuterRef``), to read it in another query (the API's authentication loads the user with
    it)."""
    return Exists(KycProfile.objects.filter(user=user_ref, status=KycStatus.APPROVED))


def kyc_is_approved_cached(*, user: User) -> bool:
    """:func:`kyc_is_approved` as the request's authentication read it with the user
    (``user.kyc_approved``, :class:`accounts.authentication.RevocableJWTAuthentication`): no
    query. A user loaded otherwise (a session) is asked with a query. For read permissions
    only - a money service asks :func:`kyc_is_approved` (or
    :func:`kyc_approved_and_on_hold`) at the time it moves the money."""
    approved = getattr(user, "kyc_approved", None)
    return kyc_is_approved(user=user) if approved is None else approved


def kyc_approved_sql(user_ref: str) -> str:
    """:func:`kyc_is_approved` (the rule of :func:`kyc_approved_expression`) as an SQL
    ``EXISTS`` on ``user_ref``: ``"%s"`` (the user's id, a parameter) or a column of the
    caller's query (``'"accounts_user"."id"'``); its next parameter is
    :attr:`KycStatus.APPROVED`. For the hot reads whose statement is written out (the ORM's
    compile of an ``EXISTS`` costs more CPU than the query, issue #19)."""
    return (f'EXISTS (SELECT 1 FROM "{KycProfile._meta.db_table}" '  # noqa: S608  # nosec B608 - names from code, values bound
            f'WHERE "user_id" = {user_ref} AND "status" = %s)')


_KYC_APPROVED_AND_ON_HOLD_SQL = f"SELECT {kyc_approved_sql('%s')}, {OPEN_HOLD_EXISTS_SQL}"


def kyc_approved_and_on_hold(*, user: User) -> tuple[bool, bool]:
    """``(KYC/KYB approved, on compliance hold)`` for ``user`` in one query: the two questions
    a money service asks first (:func:`kyc_is_approved` and
    :func:`compliance.public.user_is_on_hold`, same rules).

    The statement is written out (``SELECT EXISTS (...), EXISTS (...)``): the ORM's compile of
    the two ``EXISTS`` cost about 1 ms of CPU per funding, more than the query (issue #19)."""
    with connection.cursor() as cursor:
        cursor.execute(_KYC_APPROVED_AND_ON_HOLD_SQL, [user.pk, KycStatus.APPROVED, user.pk])
        approved, on_hold = cursor.fetchone()
    return bool(approved), bool(on_hold)


def kyc_profile_for_user(*, user: User) -> KycProfile | None:
    """The user's own KYC/KYB profile, or None before onboarding."""
    return KycProfile.objects.filter(user=user).first()


#: The profile's columns that ``GET /api/v1/me`` answers (:func:`kyc_summary_for_user`).
KYC_SUMMARY_FIELDS = ("kind", "legal_name", "country", "tax_id", "bank_account_iban", "status",
                      "decision_reason", "decided_at")


def kyc_summary_for_user(*, user: User) -> dict | None:
    """The user's own KYC/KYB profile as the API's ``me`` answers it - a dict of
    :data:`KYC_SUMMARY_FIELDS` - or None before onboarding. One query of those columns only:
    two of the profile's five encrypted fields are decrypted (tax id, IBAN), not its address,
    date of birth or identity document number; the statement is written out and no model
    instance is built (issue #19). PostgreSQL (its ``LIMIT`` and quoting are SQLite's too)."""
    with connection.cursor() as cursor:
        cursor.execute(_KYC_SUMMARY_SQL, [user.pk])
        row = cursor.fetchone()
    if row is None:
        return None
    return {name: convert(value)
            for (name, convert), value in zip(_KYC_SUMMARY_CONVERTERS, row, strict=True)}


def _summary_converter(name: str):
    """Database value -> Python for summary column ``name``: an encrypted field decrypts it
    (its ``from_db_value``); the others are used as the driver gives them."""
    field = KycProfile._meta.get_field(name)
    if hasattr(field, "from_db_value"):
        return lambda value: field.from_db_value(value, None, connection)
    return lambda value: value


#: One user's profile row (a one-to-one: at most one), the summary's columns, written out.
_KYC_SUMMARY_COLUMNS = ", ".join(f'"{name}"' for name in KYC_SUMMARY_FIELDS)
_KYC_SUMMARY_SQL = (f"SELECT {_KYC_SUMMARY_COLUMNS} "  # noqa: S608  # nosec B608 - names from code, values bound
                    f'FROM "{KycProfile._meta.db_table}" WHERE "user_id" = %s LIMIT 1')
_KYC_SUMMARY_CONVERTERS = [(name, _summary_converter(name)) for name in KYC_SUMMARY_FIELDS]


def kyc_profiles_with_tax_id(*, tax_id: str) -> QuerySet[KycProfile]:
    """Profiles whose tax id is ``tax_id`` (spacing, punctuation and case ignored).

    The tax id column is encrypted, so this matches the stored HMAC (``tax_id_hash``) under
    every configured key (rows not yet rotated match too)."""
    hashes = lookup_hashes(tax_id)
    if not hashes:
        return KycProfile.objects.none()
    return KycProfile.objects.filter(tax_id_hash__in=hashes)


def user_by_deposit_reference(*, reference: str) -> User | None:
    """The user whose bank deposit reference is ``reference`` (case-insensitive)."""
    return User.objects.filter(deposit_reference__iexact=reference.strip()).first()


def staff_user_by_email(*, email: str) -> User | None:
    """The active staff account with ``email`` (case-insensitive), or None: who a scheduled
    back-office command (``payout_batch_create --actor``) acts as."""
    return User.objects.filter(email__iexact=email.strip(), is_staff=True,
                               is_active=True).first()


def user_by_email(*, email: str) -> User | None:
    """The account with ``email`` (case-insensitive), or None (back-office reports)."""
    return User.objects.filter(email__iexact=email.strip()).first()
