"""Writes for users and KYC/KYB: registration, onboarding, and the review decisions."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from compliance.public import user_has_screening_hold, validate_tax_id
from paymint.core.crypto import lookup_hash
from paymint.core.error_codes import CoreError
from paymint.core.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from paymint.core.events import EventName, event_emit
from paymint.core.permissions import require_staff
from paymint.core.queue import enqueue_on_commit

from .auth_tokens import user_refresh_tokens_revoke
from .banking import iban_validate
from .email_verification import email_verification_send
from .enums import (
    KYC_REQUIRED_DOCUMENTS,
    KYC_TRANSITIONS,
    KycDocumentKind,
    KycKind,
    KycStatus,
    Role,
)
from .error_codes import AccountsError
from .lockout import lockout_clear
from .models import KycProfile, KycStatusEvent, User
from .roles import DEFAULT_ROLES, ROLES, role_groups


def user_register(*, email: str, password: str, role: str) -> User:
    """Create a seller or investor account (staff are created by ops, never by sign-up).

    Raises:
        ValidationFailed: bad role (``INVALID_ROLE``) or weak password (``WEAK_PASSWORD``).
        Conflict: ``EMAIL_TAKEN`` when the email is already registered.
    """
    if role not in (Role.SELLER, Role.INVESTOR):
        raise ValidationFailed(
            "Role must be SELLER or INVESTOR.",
            code=AccountsError.INVALID_ROLE,
            fields={"role": ["Invalid."]},
        )
    email = User.objects.normalize_email(email).lower()
    candidate = User(email=email, username=email, role=role)
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise ValidationFailed(
            "The password is too weak.",
            code=AccountsError.WEAK_PASSWORD,
            fields={"password": exc.messages},
        ) from exc
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, password=password, role=role)
    except IntegrityError:
        raise Conflict(
            "An account with this email already exists.",
            code=AccountsError.EMAIL_TAKEN,
            fields={"email": ["Already registered."]},
        ) from None


def user_sign_up(*, email: str, password: str, role: str, link_for: Callable[[str], str]) -> User:
    """Sign-up from the dashboard or the API: :func:`user_register`, then the email address
    confirmation link (:func:`accounts.email_verification.email_verification_send`, through the
    outbox after commit), in one transaction.

    Raises:
        the errors of :func:`user_register`; nothing is written.
    """
    with transaction.atomic():
        user = user_register(email=email, password=password, role=role)
        email_verification_send(user=user, link_for=link_for)
    return user


#: What a user may change about themselves (``PATCH /api/v1/me``).
USER_EDITABLE_FIELDS = ("first_name", "last_name", "language")


def user_profile_update(*, user: User, **changes: str) -> User:
    """Change the user's own names and language (emails and notifications are written in it).

    Raises:
        ValidationFailed: ``FIELD_NOT_EDITABLE`` for any other field; ``INVALID_LANGUAGE``.
    """
    unknown = sorted(set(changes) - set(USER_EDITABLE_FIELDS))
    if unknown:
        raise ValidationFailed(
            "These fields cannot be changed here.",
            code=AccountsError.FIELD_NOT_EDITABLE,
            fields={name: ["Not editable."] for name in unknown},
        )
    languages = {code for code, _ in settings.LANGUAGES}
    if "language" in changes and changes["language"] not in languages:
        raise ValidationFailed(
            "Choose a supported language.",
            code=AccountsError.INVALID_LANGUAGE,
            fields={"language": [f"One of {', '.join(sorted(languages))}."]},
        )
    if not changes:
        return user
    for name, value in changes.items():
        setattr(user, name, value.strip() if name != "language" else value)
    user.save(update_fields=[*changes, "updated_at"])
    return user


def staff_user_create(*, email: str, password: str, roles: Iterable[str] = DEFAULT_ROLES) -> User:
    """Create a back-office staff account (admin access, two-factor required there) with the
    given roles (:data:`accounts.roles.ROLES`: ``operations``, ``compliance``,
    ``senior_management``). Used by ops tooling and the demo; never reachable from sign-up.

    The account is ``is_staff`` but never a superuser: what it may see and do in the admin
    comes from its roles' groups. Superusers are made only with ``manage.py createsuperuser``
    (break-glass).

    Raises:
        ValidationFailed: ``UNKNOWN_ROLE`` (no role, or one not in ``ROLES``),
            ``WEAK_PASSWORD``.
        Conflict: ``EMAIL_TAKEN``.
    """
    roles = (roles,) if isinstance(roles, str) else tuple(dict.fromkeys(roles))
    unknown = [role for role in roles if role not in ROLES]
    if unknown or not roles:
        raise ValidationFailed(
            f"Unknown role(s): {', '.join(unknown) or 'none given'}; use {', '.join(ROLES)}.",
            code=AccountsError.UNKNOWN_ROLE,
            fields={"roles": [f"Choose from {', '.join(ROLES)}."]},
        )
    email = User.objects.normalize_email(email).lower()
    try:
        validate_password(password, user=User(email=email, username=email))
    except DjangoValidationError as exc:
        raise ValidationFailed(
            "The password is too weak.",
            code=AccountsError.WEAK_PASSWORD,
            fields={"password": exc.messages},
        ) from exc
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=email,
                password=password,
                role=Role.STAFF,
                is_staff=True,
                is_superuser=False,
            )
            user.groups.set(role_groups(roles))
            return user
    except IntegrityError:
        raise Conflict(
            "An account with this email already exists.", code=AccountsError.EMAIL_TAKEN
        ) from None


def user_password_set(*, user: User, password: str, via_reset: bool = False) -> int:
    """Give ``user`` a new password (password change, reset link, admin) and end their other
    sign-ins: every outstanding API refresh token is blacklisted, and Django sessions signed in
    with the old password stop working on their next request (the session stores a hash
    derived from the password). The caller keeps its own session with
    ``update_session_auth_hash``.

    ``via_reset``: the owner proved control of the mailbox, so the brute-force lockouts of the
    email address are cleared too.

    Returns:
        How many refresh tokens were revoked.

    Raises:
        ValidationFailed: ``WEAK_PASSWORD``.
    """
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationFailed(
            "The password is too weak.",
            code=AccountsError.WEAK_PASSWORD,
            fields={"password": exc.messages},
        ) from exc
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        revoked = user_refresh_tokens_revoke(user=user)
        # Keyed by the new (salted) hash: one event per change, none twice for it.
        digest = hashlib.sha256(user.password.encode()).hexdigest()[:24]
        event_emit(name=EventName.SECURITY_PASSWORD_CHANGED,
                   key=f"security.password_changed:{user.pk}:{digest}",
                   recipients={user: {"via_reset": via_reset}})
    if via_reset:
        lockout_clear(email=user.email)
    return revoked


def kyc_submit(
    *,
    user: User,
    legal_name: str,
    country: str,
    tax_id: str,
    address: str = "",
    date_of_birth: dt.date | None = None,
    identity_document_number: str = "",
    bank_account_iban: str = "",
) -> KycProfile:
    """Create or update the user's KYC (investor) / KYB (seller) profile and send it for review.

    The tax id is validated with python-stdnum for ``country`` and stored compact, with its
    lookup hash. ``date_of_birth`` and ``identity_document_number`` are for individuals (KYC)
    only; ``bank_account_iban`` (optional, the payout account for withdrawals) is validated
    and stored compact. Personal fields are encrypted at rest (:mod:`paymint.core.fields`).

    The same rules hold for the dashboard and the API: the email address must be confirmed,
    and the documents the profile kind requires (:data:`accounts.enums.KYC_REQUIRED_DOCUMENTS`,
    uploaded with :func:`accounts.kyc_documents.kyc_document_upload`) must be on file.

    Raises:
        PermissionDenied: ``NOT_AN_APPLICANT`` (staff); ``EMAIL_NOT_VERIFIED``.
        InvalidTaxId: the tax id fails its format or check digit (``INVALID_TAX_ID``).
        ValidationFailed: missing legal name or country; ``INVALID_IBAN``;
            ``INVALID_DATE_OF_BIRTH`` (in the future or under 18); ``NOT_AN_INDIVIDUAL``
            (date of birth or identity document number on a KYB profile);
            ``DOCUMENT_REQUIRED`` (nothing is written).
        InvalidTransition: the profile is already approved or pending review.
    """
    if user.role not in (Role.SELLER, Role.INVESTOR):
        raise PermissionDenied(
            "Only sellers and investors go through KYC/KYB.", code=AccountsError.NOT_AN_APPLICANT
        )
    if user.email_verified_at is None:
        raise PermissionDenied(
            "Please confirm your email address before you send your details.",
            code=AccountsError.EMAIL_NOT_VERIFIED,
        )
    errors: dict[str, list[str]] = {}
    if not legal_name.strip():
        errors["legal_name"] = ["This field is required."]
    if len(country.strip()) != 2:
        errors["country"] = ["Use the two-letter ISO country code."]
    kind = KycKind.KYB if user.role == Role.SELLER else KycKind.KYC
    identity_document_number = (identity_document_number or "").strip()
    if kind == KycKind.KYB and (date_of_birth is not None or identity_document_number):
        message = "Only individuals (investors) give a date of birth or identity document."
        raise ValidationFailed(
            message,
            code=AccountsError.NOT_AN_INDIVIDUAL,
            fields={
                name: [message]
                for name, value in (
                    ("date_of_birth", date_of_birth),
                    ("identity_document_number", identity_document_number),
                )
                if value
            },
        )
    if date_of_birth is not None:
        today = timezone.localdate()
        age = (
            today.year
            - date_of_birth.year
            - ((today.month, today.day) < (date_of_birth.month, date_of_birth.day))
        )
        if date_of_birth >= today:
            errors["date_of_birth"] = ["The date of birth must be in the past."]
        elif age < 18:
            errors["date_of_birth"] = ["You must be at least 18 years old."]
    if errors:
        code = AccountsError.INVALID_DATE_OF_BIRTH if list(errors) == ["date_of_birth"] else None
        raise ValidationFailed("Please correct the highlighted fields.", code=code, fields=errors)
    iban = iban_validate(bank_account_iban)
    tax = validate_tax_id(tax_id, country)
    with transaction.atomic():
        profile = kyc_profile_draft_get_or_create(user=user)
        if profile.status not in (KycStatus.DRAFT, KycStatus.REJECTED):
            raise InvalidTransition(
                f"The profile is {profile.get_status_display().lower()} and cannot be changed.",
                code=AccountsError.KYC_ALREADY_SUBMITTED,
            )
        on_file = set(profile.documents.values_list("kind", flat=True))
        missing = sorted(KYC_REQUIRED_DOCUMENTS[profile.kind] - on_file)
        if missing:
            labels = ", ".join(KycDocumentKind(kind).label.lower() for kind in missing)
            raise ValidationFailed(
                f"Upload your {labels} first.",
                code=AccountsError.DOCUMENT_REQUIRED,
                fields={"document": [f"Required: {', '.join(missing)}."]},
            )
        profile.legal_name = legal_name.strip()
        profile.country = country.strip().upper()
        profile.tax_id = tax.compact
        profile.tax_id_hash = lookup_hash(tax.compact)
        profile.tax_id_scheme = tax.scheme
        profile.address = address.strip()
        profile.date_of_birth = date_of_birth
        profile.identity_document_number = identity_document_number
        profile.bank_account_iban = iban
        profile.save(
            update_fields=[
                "legal_name",
                "country",
                "tax_id",
                "tax_id_hash",
                "tax_id_scheme",
                "address",
                "date_of_birth",
                "identity_document_number",
                "bank_account_iban",
                "updated_at",
            ]
        )
        profile = kyc_transition(
            profile=profile, to_status=KycStatus.PENDING_REVIEW, actor=user, reason="submitted"
        )
        # Sanctions/PEP screening of the applicant, after commit (a hit holds the account).
        enqueue_on_commit("compliance.tasks.screen_user_task", user.pk)
        return profile


def kyc_profile_draft_get_or_create(*, user: User) -> KycProfile:
    """The user's KYC/KYB profile, locked (``SELECT ... FOR UPDATE``; call inside a
    transaction), created as an empty draft of the kind their role needs when missing."""
    kind = KycKind.KYB if user.role == Role.SELLER else KycKind.KYC
    profile, _ = KycProfile.objects.select_for_update().get_or_create(
        user=user, defaults={"kind": kind, "legal_name": "", "country": ""}
    )
    return profile


#: The decisions the applicant hears of (with the reason of a rejection).
KYC_DECISION_EVENTS = {
    KycStatus.APPROVED: EventName.KYC_APPROVED,
    KycStatus.REJECTED: EventName.KYC_REJECTED,
}


def kyc_transition(
    *, profile: KycProfile, to_status: str, actor: User | None, reason: str = ""
) -> KycProfile:
    """The only writer of ``KycProfile.status``: locks the row, checks the move against
    :data:`accounts.enums.KYC_TRANSITIONS`, records a :class:`KycStatusEvent`.

    Raises:
        InvalidTransition: the move is not allowed from the current status.
    """
    with transaction.atomic():
        locked = KycProfile.objects.select_for_update().get(pk=profile.pk)
        if to_status not in KYC_TRANSITIONS[locked.status]:
            raise InvalidTransition(
                f"Cannot move a {locked.status} profile to {to_status}.",
                code=AccountsError.INVALID_KYC_TRANSITION,
            )
        from_status = locked.status
        now = timezone.now()
        locked.status = to_status
        fields = ["status", "updated_at"]
        if to_status == KycStatus.PENDING_REVIEW:
            locked.submitted_at = now
            locked.decided_at = None
            locked.decided_by = None
            locked.decision_reason = ""
            fields += ["submitted_at", "decided_at", "decided_by", "decision_reason"]
        elif to_status in (KycStatus.APPROVED, KycStatus.REJECTED):
            locked.decided_at = now
            locked.decided_by = actor
            locked.decision_reason = reason
            fields += ["decided_at", "decided_by", "decision_reason"]
        locked.save(update_fields=fields)
        status_event = KycStatusEvent.objects.create(
            profile=locked,
            from_status=from_status,
            to_status=to_status,
            actor=actor,
            reason=reason,
        )
        if to_status in KYC_DECISION_EVENTS:
            name = KYC_DECISION_EVENTS[to_status]
            shown = {"reason": reason} if to_status == KycStatus.REJECTED else {}
            event_emit(name=name, key=f"{name}:{status_event.pk}",
                       recipients={locked.user_id: shown})
    profile.refresh_from_db()
    return profile


def _require_reviewer(reviewer: User, profile: KycProfile) -> None:
    require_staff(
        reviewer,
        "Only operations staff can decide on KYC/KYB.",
        permission="accounts.change_kycprofile",
    )
    if reviewer.pk == profile.user_id:
        raise PermissionDenied("Staff cannot review their own profile.")


def kyc_approve(*, profile: KycProfile, reviewer: User, reason: str = "") -> KycProfile:
    """Approve a pending KYC/KYB profile; records who decided, when and why.

    Raises:
        PermissionDenied: the reviewer is not active staff, or reviews themself.
        Conflict: ``SANCTIONS_HOLD_OPEN`` - a sanctions hit or a PEP match on the applicant
            is unresolved (compliance releases the hold - for a PEP after enhanced due
            diligence and senior-management approval - or rejects, first).
        InvalidTransition: the profile is not pending review.
    """
    _require_reviewer(reviewer, profile)
    if user_has_screening_hold(user_id=profile.user_id):
        raise Conflict(
            "A sanctions or PEP screening hit on this applicant is unresolved: review the "
            "alert and release the hold before approving.",
            code=AccountsError.SANCTIONS_HOLD_OPEN,
        )
    return kyc_transition(
        profile=profile,
        to_status=KycStatus.APPROVED,
        actor=reviewer,
        reason=reason.strip() or "Approved",
    )


def kyc_reject(*, profile: KycProfile, reviewer: User, reason: str) -> KycProfile:
    """Reject a pending KYC/KYB profile with a reason the applicant will see.

    Raises:
        ValidationFailed: ``REASON_REQUIRED`` when ``reason`` is blank.
        PermissionDenied, InvalidTransition: as :func:`kyc_approve`.
    """
    if not reason.strip():
        raise ValidationFailed(
            "A reason is required to reject.",
            code=CoreError.REASON_REQUIRED,
            fields={"reason": ["Required."]},
        )
    _require_reviewer(reviewer, profile)
    return kyc_transition(
        profile=profile, to_status=KycStatus.REJECTED, actor=reviewer, reason=reason.strip()
    )


def platform_investor_create(*, email: str, legal_name: str, country: str, actor: User) -> User:
    """A platform-owned investor account (a liquidity pool's: PayMint invests through it like
    any investor). It has no password (nobody signs in as it), its email is marked verified
    and its KYB is PayMint's own, recorded as submitted then approved by ``actor`` through
    :func:`kyc_transition` (both moves in the audit trail). Idempotent by ``email``.

    Raises:
        PermissionDenied: ``actor`` is not active staff.
    """
    require_staff(actor)
    email = User.objects.normalize_email(email).lower()
    with transaction.atomic():
        existing = User.objects.filter(email=email).first()
        if existing is not None:
            return existing
        user = User.objects.create_user(email=email, password=None, role=Role.INVESTOR,
                                        email_verified_at=timezone.now())
        profile = KycProfile.objects.create(user=user, kind=KycKind.KYB, legal_name=legal_name,
                                            country=country)
        reason = "platform-owned account: PayMint's own KYB"
        kyc_transition(profile=profile, to_status=KycStatus.PENDING_REVIEW, actor=actor,
                       reason=reason)
        kyc_transition(profile=profile, to_status=KycStatus.APPROVED, actor=actor,
                       reason=reason)
    return user
