"""Accounts API: registration, sign-in and tokens, email confirmation, password reset, the
current user's profile and two-factor, KYC/KYB documents and submission."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import Token

from paymint.core.api import paginated
from paymint.core.idempotency import IdempotentWriteMixin
from paymint.core.renderers import FAST_RENDERERS
from paymint.core.schema import ErrorSerializer
from paymint.core.storage import private_file_url
from paymint.core.throttling import LoginThrottle, RegistrationThrottle, UploadThrottle

from .auth_tokens import refresh_token_rotate, token_pair_revoke
from .banking import iban_mask
from .email_verification import email_verification_resend, email_verify
from .enums import KycDocumentKind, Role
from .kyc_documents import (
    kyc_document_private_file,
    kyc_document_upload,
    kyc_documents_for_owner,
    kyc_submit_with_document,
)
from .links import email_verification_link_for, password_reset_link_for
from .password_reset import password_reset_confirm, password_reset_request
from .selectors import kyc_summary_for_user
from .services import user_profile_update, user_sign_up
from .sign_in import sign_in_second_factor, token_pair_obtain
from .two_factor import (
    totp_disable,
    totp_enrolment_confirm,
    totp_enrolment_start,
    totp_qr_svg,
    totp_secret_base32,
    totp_status,
)

LANGUAGE_CODES = [code for code, _ in settings.LANGUAGES]


class KycOutputSerializer(serializers.Serializer):
    kind = serializers.CharField()
    legal_name = serializers.CharField()
    country = serializers.CharField()
    tax_id = serializers.CharField()
    bank_account = serializers.CharField(
        source="bank_account_masked", help_text="Payout IBAN, masked: DE89 **** 3000."
    )
    status = serializers.CharField()
    decision_reason = serializers.CharField()
    decided_at = serializers.DateTimeField(allow_null=True)


class UserOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    email = serializers.EmailField()
    role = serializers.CharField()
    deposit_reference = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    language = serializers.CharField(help_text="Language and locale of emails and "
                                     "notifications: " + ", ".join(LANGUAGE_CODES) + ".")
    email_verified = serializers.SerializerMethodField()

    def get_email_verified(self, user) -> bool:
        return user.email_verified_at is not None


_DATETIME = serializers.DateTimeField()


def me_payload(user, kyc: dict | None) -> dict:
    """``MeApi.OutputSerializer``'s answer built as a plain dict (the serializers stay the
    schema): ``user`` and its profile's :func:`~accounts.selectors.kyc_summary_for_user` row.
    Two DRF serializers cost about as much CPU as the rest of the request (issue #19);
    ``tests/accounts/test_me_payload.py`` checks the two give the same answer."""
    payload = {
        "id": str(user.public_id),
        "email": user.email,
        "role": user.role,
        "deposit_reference": user.deposit_reference,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "language": user.language,
        "email_verified": user.email_verified_at is not None,
        "kyc": None,
    }
    if kyc is not None:
        payload["kyc"] = {
            "kind": kyc["kind"],
            "legal_name": kyc["legal_name"],
            "country": kyc["country"],
            "tax_id": kyc["tax_id"],
            "bank_account": iban_mask(kyc["bank_account_iban"]),
            "status": kyc["status"],
            "decision_reason": kyc["decision_reason"],
            "decided_at": (None if kyc["decided_at"] is None
                           else _DATETIME.to_representation(kyc["decided_at"])),
        }
    return payload


class UserRegisterApi(APIView):
    """``POST /api/v1/auth/register``: create a seller or investor account."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [RegistrationThrottle]

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        password = serializers.CharField(write_only=True, max_length=128)
        role = serializers.ChoiceField(choices=[Role.SELLER, Role.INVESTOR])

    @extend_schema(request=InputSerializer, responses={201: UserOutputSerializer},
                   description="Creates the account and emails a confirmation link, as the "
                   "web sign-up does. Errors: 400 `WEAK_PASSWORD`, `INVALID_ROLE`; 409 "
                   "`EMAIL_TAKEN`.")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_sign_up(**data.validated_data,
                            link_for=email_verification_link_for(request._request))
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class MeApi(IdempotentWriteMixin, APIView):
    """``GET /api/v1/me``: the signed-in user and their KYC/KYB status. ``PATCH`` changes the
    profile fields a user may change (names, language); the email, role and everything
    KYC-reviewed stay as they are."""

    renderer_classes = FAST_RENDERERS

    class OutputSerializer(UserOutputSerializer):
        kyc = KycOutputSerializer(allow_null=True)

    class UpdateInputSerializer(serializers.Serializer):
        first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
        last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
        language = serializers.ChoiceField(choices=LANGUAGE_CODES, required=False)

    def _answer(self, user):
        return Response(me_payload(user, kyc_summary_for_user(user=user)))

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return self._answer(request.user)

    @extend_schema(request=UpdateInputSerializer, responses=OutputSerializer)
    def patch(self, request):
        data = self.UpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._answer(user_profile_update(user=request.user, **data.validated_data))


class KycSubmitApi(IdempotentWriteMixin, APIView):
    """``POST /api/v1/me/kyc``: submit KYC (investor) or KYB (seller) details for review."""

    class InputSerializer(serializers.Serializer):
        legal_name = serializers.CharField(max_length=200)
        country = serializers.CharField(min_length=2, max_length=2)
        tax_id = serializers.CharField(max_length=32)
        address = serializers.CharField(max_length=300, required=False, allow_blank=True)
        # Individuals (investors, KYC) only.
        date_of_birth = serializers.DateField(required=False, allow_null=True)
        identity_document_number = serializers.CharField(
            max_length=64, required=False, allow_blank=True
        )
        # Payout account for withdrawals; validated (INVALID_IBAN), answered masked.
        bank_account_iban = serializers.CharField(max_length=42, required=False,
                                                  allow_blank=True)

        # Investors: the amount they plan to invest in the next 12 months (EUR); above
        # KYC_FOUR_EYES_ABOVE the approval needs two reviewers.
        declared_investment = serializers.DecimalField(
            max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True)

    @extend_schema(
        request=InputSerializer, responses={201: KycOutputSerializer},
        description="Sends the profile for review. The documents its kind requires must be "
        "uploaded first (`me/kyc/documents`: IDENTITY for investors, COMPANY_REGISTRATION for "
        "sellers) and the email address confirmed - the same rules as the web onboarding. "
        "Errors: 400 `DOCUMENT_REQUIRED`, `INVALID_TAX_ID`, `INVALID_IBAN`, "
        "`INVALID_DATE_OF_BIRTH`, `NOT_AN_INDIVIDUAL`, `VALIDATION_ERROR`; 403 "
        "`EMAIL_NOT_VERIFIED`, `NOT_AN_APPLICANT`; 409 `KYC_ALREADY_SUBMITTED`.",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = kyc_submit_with_document(user=request.user, document=None,
                                           **data.validated_data)
        return Response(KycOutputSerializer(profile).data, status=status.HTTP_201_CREATED)


class KycDocumentOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    kind = serializers.ChoiceField(choices=KycDocumentKind.choices)
    content_type = serializers.CharField()
    size = serializers.IntegerField(help_text="Bytes.")
    original_filename = serializers.CharField()
    uploaded_at = serializers.DateTimeField()
    download_url = serializers.SerializerMethodField(
        help_text="Short-lived signed download URL (attachment) for the requesting user; "
        "expires after PRIVATE_FILE_URL_MAX_AGE seconds."
    )

    def get_download_url(self, document) -> str:
        request = self.context["request"]
        return private_file_url(kind="kyc", object_id=document.public_id, user=request.user,
                                private_file=kyc_document_private_file(document),
                                request=request)


class KycDocumentCollectionApi(IdempotentWriteMixin, APIView):
    """``GET /api/v1/me/kyc/documents``: the user's KYC/KYB documents with short-lived signed
    links (cursor-paginated). ``POST`` (multipart ``kind``, ``file``): add one, with the
    dashboard's checks (content sniffed: PDF, PNG or JPEG; size cap; daily upload quota)."""

    parser_classes = [MultiPartParser, FormParser]
    throttle_classes = [UploadThrottle]

    class UploadInputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=KycDocumentKind.choices)
        file = serializers.FileField()

    @extend_schema(responses=KycDocumentOutputSerializer(many=True))
    def get(self, request):
        return paginated(self, kyc_documents_for_owner(user=request.user),
                         KycDocumentOutputSerializer)

    @extend_schema(
        request={"multipart/form-data": UploadInputSerializer},
        responses={201: KycDocumentOutputSerializer},
        description="Errors: 400 `DOCUMENT_TOO_LARGE`, `DOCUMENT_EMPTY`, "
        "`UNSUPPORTED_DOCUMENT_TYPE`, `INVALID_DOCUMENT_KIND`; 403 `EMAIL_NOT_VERIFIED`, "
        "`NOT_AN_APPLICANT`; 409 `KYC_ALREADY_SUBMITTED`; 429 `UPLOAD_QUOTA_EXCEEDED`, "
        "`RATE_LIMITED`.",
    )
    def post(self, request):
        data = self.UploadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        document = kyc_document_upload(user=request.user, kind=data.validated_data["kind"],
                                       uploaded_file=data.validated_data["file"])
        return Response(KycDocumentOutputSerializer(document, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)


class EmailVerifyApi(APIView):
    """``POST /api/v1/auth/email/verify {"token"}``: confirm the email address with the token
    of the emailed link (the last segment of ``/verify-email/<token>/``). Using it twice is
    harmless."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [LoginThrottle]

    class InputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=500)

    class OutputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        email_verified = serializers.BooleanField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer,
                   description="Errors: 400 `VERIFICATION_LINK_INVALID`, "
                   "`VERIFICATION_LINK_EXPIRED`.")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = email_verify(token=data.validated_data["token"])
        return Response({"email": user.email, "email_verified": True})


class EmailResendApi(APIView):
    """``POST /api/v1/auth/email/resend``: email the confirmation link again (at most once a
    minute). Answers 202."""

    class OutputSerializer(serializers.Serializer):
        sent_to = serializers.EmailField()

    @extend_schema(request=None, responses={202: OutputSerializer},
                   description="Errors: 409 `EMAIL_ALREADY_VERIFIED`; 429 "
                   "`VERIFICATION_RESEND_TOO_SOON`.")
    def post(self, request):
        email_verification_resend(user=request.user,
                                  link_for=email_verification_link_for(request._request))
        return Response({"sent_to": request.user.email}, status=status.HTTP_202_ACCEPTED)


class PasswordResetApi(APIView):
    """``POST /api/v1/auth/password/reset {"email"}``: email a reset link. Answers 202 with the
    same body whatever the email, so nobody can tell which accounts exist."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [LoginThrottle]

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()

    class OutputSerializer(serializers.Serializer):
        detail = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={202: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        password_reset_request(email=data.validated_data["email"],
                               link_for=password_reset_link_for(request._request))
        return Response({"detail": "If an account uses this address, we sent it a link to "
                                   "reset the password."}, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmApi(APIView):
    """``POST /api/v1/auth/password/reset/confirm {"token", "new_password"}``: ``token`` is
    ``"<uidb64>/<token>"``, the last two segments of the emailed link. Sets the password,
    revokes every token and session of the account and clears its sign-in lockouts, as the
    web reset does. Answers 204."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [LoginThrottle]

    class InputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=200)
        new_password = serializers.CharField(max_length=128, trim_whitespace=False)

    @extend_schema(request=InputSerializer, responses={204: None},
                   description="Errors: 400 `RESET_LINK_INVALID`, `WEAK_PASSWORD`.")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        password_reset_confirm(**data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TwoFactorStatusSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="Sign-in asks for a code.")
    pending = serializers.BooleanField(help_text="Enrolment started, awaiting its first code.")
    required = serializers.BooleanField(help_text="Staff cannot turn it off.")


class TwoFactorApi(APIView):
    """``GET /api/v1/me/two-factor``: the status. ``POST``: start enrolment (the same secret
    until confirmed). ``DELETE {"password", "code"}``: turn it off (not for staff)."""

    class EnrolmentOutputSerializer(serializers.Serializer):
        otpauth_uri = serializers.CharField(help_text="For the authenticator app.")
        secret = serializers.CharField(help_text="Base32, for manual entry.")
        qr_svg = serializers.CharField(help_text="The otpauth URI as an SVG QR code.")

    class DisableInputSerializer(serializers.Serializer):
        password = serializers.CharField(max_length=128, trim_whitespace=False)
        code = serializers.CharField(max_length=16)

    @extend_schema(responses=TwoFactorStatusSerializer)
    def get(self, request):
        return Response(totp_status(user=request.user))

    @extend_schema(request=None, responses={201: EnrolmentOutputSerializer},
                   description="Errors: 400 `TWO_FACTOR_ALREADY_ON`.")
    def post(self, request):
        device = totp_enrolment_start(user=request.user)
        return Response({"otpauth_uri": device.config_url,
                         "secret": totp_secret_base32(device),
                         "qr_svg": totp_qr_svg(device)}, status=status.HTTP_201_CREATED)

    @extend_schema(request=DisableInputSerializer, responses={204: None},
                   description="Errors: 400 `WRONG_PASSWORD`, `INVALID_OTP`, "
                   "`TWO_FACTOR_NOT_ON`; 403 `TWO_FACTOR_REQUIRED` (staff).")
    def delete(self, request):
        data = self.DisableInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        totp_disable(user=request.user, password=data.validated_data["password"],
                     token=data.validated_data["code"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class TwoFactorConfirmApi(APIView):
    """``POST /api/v1/me/two-factor/confirm {"code"}``: finish enrolment with a first code;
    from then on sign-in asks for a code."""

    class InputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=16)

    @extend_schema(request=InputSerializer, responses=TwoFactorStatusSerializer,
                   description="Errors: 400 `INVALID_OTP`, `NO_PENDING_DEVICE`.")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        totp_enrolment_confirm(user=request.user, token=data.validated_data["code"])
        return Response(totp_status(user=request.user))


class TokenPairOutputSerializer(serializers.Serializer):
    refresh = serializers.CharField()
    access = serializers.CharField()


class SignInErrorSerializer(ErrorSerializer):
    """A refused sign-in; with ``OTP_REQUIRED`` the body also carries ``mfa_token``."""

    mfa_token = serializers.CharField(
        required=False,
        help_text="Only with OTP_REQUIRED: send it with a current code to `auth/token/otp` "
        "within 5 minutes. Single use.",
    )


class TokenObtainApi(APIView):
    """``POST /api/v1/auth/token``: email and password -> ``{"refresh", "access"}``.

    A user with two-factor on (staff included) gets no tokens for the password alone: 401
    ``OTP_REQUIRED`` with an ``mfa_token`` to exchange, with a code, at ``auth/token/otp``.
    Answers 401 ``AUTHENTICATION_FAILED`` for a wrong email or password, 429 ``ACCOUNT_LOCKED``
    after ``AXES_FAILURE_LIMIT`` failures (wrong passwords and wrong codes) for the email from
    this address (for ``AXES_COOLOFF_TIME``, even with the right password), and 429
    ``RATE_LIMITED`` past the per-IP ``login`` rate.
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [LoginThrottle]

    class InputSerializer(serializers.Serializer):
        email = serializers.CharField(max_length=254)
        password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)

    @extend_schema(
        request=InputSerializer,
        responses={200: TokenPairOutputSerializer, 401: SignInErrorSerializer},
        description="Errors: 401 `AUTHENTICATION_FAILED`; 401 `OTP_REQUIRED` with "
        "`mfa_token` (two-factor on: continue at `auth/token/otp`); 429 `ACCOUNT_LOCKED`, "
        "`RATE_LIMITED`.",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # The Django request: django-axes records the attempt on it.
        tokens = token_pair_obtain(request=request._request, **data.validated_data)
        return Response(TokenPairOutputSerializer(tokens).data)


class TokenOtpApi(APIView):
    """``POST /api/v1/auth/token/otp`` ``{"mfa_token", "code"}``: the second step of a sign-in
    that answered ``OTP_REQUIRED`` (password or wallet) -> ``{"refresh", "access"}``.

    A wrong code answers 400 ``INVALID_OTP`` and counts towards the same lockout as wrong
    passwords (429 ``ACCOUNT_LOCKED``); an unknown, expired, used or void ``mfa_token`` 401
    ``MFA_TOKEN_INVALID`` (sign in again).
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [LoginThrottle]

    class InputSerializer(serializers.Serializer):
        mfa_token = serializers.CharField(max_length=128)
        code = serializers.CharField(max_length=16, help_text="The 6-digit code of the "
                                     "authenticator app.")

    @extend_schema(
        request=InputSerializer,
        responses={200: TokenPairOutputSerializer},
        description="Errors: 400 `INVALID_OTP` (the same `mfa_token` may be tried again), "
        "401 `MFA_TOKEN_INVALID`, 429 `ACCOUNT_LOCKED`, `RATE_LIMITED`.",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tokens = sign_in_second_factor(request=request._request, **data.validated_data)
        return Response(TokenPairOutputSerializer(tokens).data)


class TokenRefreshApi(APIView):
    """``POST /api/v1/auth/token/refresh``: a refresh token -> a new ``{"refresh", "access"}``.
    The refresh token sent is blacklisted (rotation): using it again answers 401
    ``TOKEN_REVOKED``; an expired or forged one 401 ``TOKEN_EXPIRED`` / ``TOKEN_INVALID``."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={200: TokenPairOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tokens = refresh_token_rotate(raw=data.validated_data["refresh"])
        return Response(TokenPairOutputSerializer(tokens).data)


_LOGOUT_DESCRIPTION = (
    "Ends this session: blacklists the refresh token sent in the body and revokes the access "
    "token in the `Authorization: Bearer` header, which from then on is answered 401 "
    "`TOKEN_REVOKED` (until it would have expired anyway). The user's other devices stay "
    "signed in; a password change ends them all. Answers 204 (also for a refresh token "
    "already revoked). Signed in by session, only the refresh token is revoked. "
    "Errors: 400 `TOKEN_INVALID` / `TOKEN_EXPIRED` (the refresh token; nothing is revoked), "
    "403 `TOKEN_NOT_OWNED` (another user's refresh token; nothing is revoked)."
)


class LogoutApi(APIView):
    """``POST /api/v1/auth/logout`` (signed in) ``{"refresh"}``: end this session. The caller's
    refresh token is blacklisted and the access token the request came with is revoked at once
    (then 401 ``TOKEN_REVOKED`` until its expiry); other devices' tokens are untouched. Answers
    204. Another user's refresh token is refused with 403 ``TOKEN_NOT_OWNED``, a bad one with
    400 ``TOKEN_INVALID`` / ``TOKEN_EXPIRED``; then nothing is revoked. Signed in by session
    (no access token), only the refresh token is revoked."""

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField(help_text="This session's refresh token.")

    @extend_schema(request=InputSerializer, responses={204: None},
                   description=_LOGOUT_DESCRIPTION)
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        access = request.auth if isinstance(request.auth, Token) else None
        token_pair_revoke(user=request.user, refresh_raw=data.validated_data["refresh"],
                          access=access)
        return Response(status=status.HTTP_204_NO_CONTENT)
