"""Users and their KYC/KYB profiles."""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models

from paymint.core.fields import EncryptedCharField, EncryptedDateField
from paymint.core.models import PublicModel, TimeStampedModel

from .banking import iban_mask
from .enums import KycDocumentKind, KycKind, KycStatus, Role

#: Content types accepted for KYC/KYB documents (sniffed from the bytes).
KYC_DOCUMENT_TYPES = ("application/pdf", "image/png", "image/jpeg")


def new_deposit_reference() -> str:
    """A bank transfer reference such as ``PM-7QK2M9XD`` (no ambiguous characters)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "PM-" + "".join(secrets.choice(alphabet) for _ in range(8))


class PayMintUserManager(UserManager):
    """Users sign in with their email address; ``username`` mirrors it."""

    def create_user(self, username=None, email=None, password=None, **extra_fields):
        email = self.normalize_email(email or username)
        return super().create_user(email, email, password, **extra_fields)

    def get_by_natural_key(self, username):
        """Sign-in looks the email up case-insensitively (emails are stored lower-cased)."""
        return self.get(email__iexact=username)

    def create_superuser(self, username=None, email=None, password=None, **extra_fields):
        email = self.normalize_email(email or username)
        extra_fields.setdefault("role", Role.STAFF)
        return super().create_superuser(email, email, password, **extra_fields)


class User(AbstractUser):
    """A person who signs in: a seller's representative, an investor, or ops staff.

    ``public_id`` is the id clients see; ``deposit_reference`` is the reference the bank puts on
    incoming transfers so that a ``deposit.received`` webhook can credit the right wallet.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField(unique=True)
    role = models.CharField(max_length=16, choices=Role.choices)
    deposit_reference = models.CharField(
        max_length=16, unique=True, default=new_deposit_reference, editable=False
    )
    updated_at = models.DateTimeField(auto_now=True)
    email_verified_at = models.DateTimeField(
        null=True, blank=True, help_text="When the user confirmed their email address."
    )
    language = models.CharField(
        max_length=8, choices=settings.LANGUAGES, default="en",
        help_text="The language (and locale for amounts and dates) of the user's emails and "
        "notifications.",
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = PayMintUserManager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="user_role_valid")
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_seller(self) -> bool:
        return self.role == Role.SELLER

    @property
    def is_investor(self) -> bool:
        return self.role == Role.INVESTOR


class KycProfile(TimeStampedModel):
    """Know-your-customer (investor, ``KYC``) or know-your-business (seller, ``KYB``) record.

    The tax id is validated with python-stdnum for its country and stored in compact form.
    Tax id, address, date of birth, identity document number and payout IBAN are encrypted
    at rest; look a tax id up through ``tax_id_hash`` (:func:`accounts.selectors.
    kyc_profiles_with_tax_id`), never by filtering on ``tax_id``.
    Status changes only through :func:`accounts.services.kyc_transition`.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="kyc"
    )
    kind = models.CharField(max_length=3, choices=KycKind.choices)
    legal_name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    # Personal data encrypted at rest (paymint.core.fields; keys: FIELD_ENCRYPTION_KEYS).
    tax_id = EncryptedCharField(max_length=32, blank=True, hash_field="tax_id_hash")
    tax_id_hash = models.CharField(
        max_length=64, blank=True, db_index=True, editable=False,
        help_text="HMAC of the normalized tax id (paymint.core.crypto.lookup_hash): the only "
        "way to look a tax id up, since the tax id column is encrypted.",
    )
    tax_id_scheme = models.CharField(max_length=32, blank=True, help_text="stdnum module name")
    address = EncryptedCharField(max_length=300, blank=True)
    date_of_birth = EncryptedDateField(null=True, blank=True, help_text="Individuals (KYC) only.")
    identity_document_number = EncryptedCharField(
        max_length=64, blank=True, help_text="Passport or identity card number; KYC only."
    )
    bank_account_iban = EncryptedCharField(
        max_length=34, blank=True,
        help_text="Payout account for withdrawals (IBAN, compact form, validated).",
    )
    status = models.CharField(max_length=16, choices=KycStatus.choices, default=KycStatus.DRAFT)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="kyc_decisions",
    )
    decision_reason = models.TextField(blank=True)
    declared_investment = models.DecimalField(
        max_digits=20,
        decimal_places=7,
        null=True,
        blank=True,
        help_text="Amount (EUR) an investor expects to invest in the next 12 months; above "
        "settings.KYC_FOUR_EYES_ABOVE approval needs two different reviewers.",
    )

    class Meta:
        verbose_name = "KYC/KYB profile"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=KycStatus.values), name="kyc_status_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="REJECTED") | ~models.Q(decision_reason=""),
                name="kyc_rejection_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.legal_name} ({self.status})"

    @property
    def is_approved(self) -> bool:
        return self.status == KycStatus.APPROVED

    @property
    def bank_account_masked(self) -> str:
        """The payout IBAN as shown in the admin and dashboards: ``DE89 **** 3000``."""
        return iban_mask(self.bank_account_iban)


class KycStatusEvent(models.Model):
    """Append-only audit row for each KYC/KYB status change."""

    profile = models.ForeignKey(KycProfile, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=16, choices=KycStatus.choices)
    to_status = models.CharField(max_length=16, choices=KycStatus.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} -> {self.to_status}"


def kyc_document_path(instance: KycDocument, filename: str) -> str:
    """Private storage path: random, never the uploaded file name."""
    extension = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}.get(
        instance.content_type, "bin"
    )
    return f"kyc/{instance.public_id}.{extension}"


class KycDocument(PublicModel):
    """An identity (KYC) or company registration (KYB) document uploaded with a profile.

    Stored privately (served only through the staff/owner view, never from MEDIA_URL); the
    type is sniffed from the content, not from the name. ``kind`` says what it proves
    (:data:`accounts.enums.KYC_REQUIRED_DOCUMENTS`). Written by
    :func:`accounts.kyc_documents.kyc_document_upload`.
    """

    profile = models.ForeignKey(KycProfile, on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(max_length=24, choices=KycDocumentKind.choices)
    file = models.FileField(upload_to=kyc_document_path, max_length=200)
    content_type = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    original_filename = models.CharField(max_length=255, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "KYC document"
        ordering = ["-uploaded_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(content_type__in=KYC_DOCUMENT_TYPES),
                name="kyc_document_type_allowed",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=KycDocumentKind.values),
                name="kyc_document_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.original_filename or self.public_id} ({self.content_type})"


class KycApproval(TimeStampedModel):
    """One reviewer's approval of one submission of a profile (four-eyes review).

    ``submitted_at`` is the profile's submission the approval is for: an approval given
    before a rejection and resubmission never counts for the new submission.
    """

    profile = models.ForeignKey(KycProfile, on_delete=models.PROTECT, related_name="approvals")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField()
    reason = models.TextField(blank=True)

    class Meta:
        verbose_name = "KYC approval (four-eyes)"
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "reviewer", "submitted_at"],
                name="kyc_approval_once_per_reviewer",
            )
        ]

    def __str__(self) -> str:
        return f"{self.reviewer_id} approved {self.profile_id}"


class SignInChallenge(TimeStampedModel):
    """The second step of an API sign-in for a user with two-factor on (``mfa_token``).

    The password (or a SEP-10 signature) proved the first factor; the client then has
    ``SIGN_IN_CHALLENGE_SECONDS`` (300) to send a TOTP code with the ``mfa_token`` it was given.
    Only the token's SHA-256 digest is stored, so a database read does not yield a usable
    token. A challenge is spent by its first valid code, and void after
    ``SIGN_IN_CHALLENGE_MAX_FAILURES`` wrong ones (see :mod:`accounts.sign_in`).
    """

    class Method(models.TextChoices):
        PASSWORD = "PASSWORD", "Email and password"
        STELLAR = "STELLAR", "Stellar wallet (SEP-10)"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sign_in_challenges"
    )
    token_digest = models.CharField(max_length=64, unique=True)
    method = models.CharField(max_length=16, choices=Method.choices)
    expires_at = models.DateTimeField()
    consumed_at = models.DateTimeField(null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = "two-factor sign-in challenge"
        indexes = [models.Index(fields=["expires_at"], name="signin_challenge_expiry")]

    def __str__(self) -> str:
        return f"{self.method} sign-in of user {self.user_id}"


class SignInOrigin(TimeStampedModel):
    """Where a user has signed in from: one row per (IP address, browser or app) pair.

    Written by :func:`accounts.sign_in.sign_in_origin_record` at every completed sign-in (web
    page, API token, wallet sign-in); a pair not seen before (once the user has signed in at
    least once) emits ``security.new_sign_in``. ``fingerprint`` is the SHA-256 of the address
    and the user agent; both are kept for the user to recognise them.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sign_in_origins"
    )
    fingerprint = models.CharField(max_length=64)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    last_seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "fingerprint"], name="sign_in_origin_once")
        ]

    def __str__(self) -> str:
        return f"{self.ip_address} / {self.user_agent[:40]}"
