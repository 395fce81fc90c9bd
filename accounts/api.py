"""Accounts API: registration, tokens, the current user, KYC/KYB submission."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import Token

from paymint.core.idempotency import IdempotentWriteMixin
from paymint.core.schema import ErrorSerializer
from paymint.core.throttling import LoginThrottle, RegistrationThrottle

from .auth_tokens import refresh_token_rotate, token_pair_revoke
from .enums import Role
from .selectors import kyc_profile_for_user
from .services import kyc_submit, user_register
from .sign_in import sign_in_second_factor, token_pair_obtain


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


class UserRegisterApi(APIView):
    """``POST /api/v1/auth/register``: create a seller or investor account."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [RegistrationThrottle]

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        password = serializers.CharField(write_only=True, max_length=128)
        role = serializers.ChoiceField(choices=[Role.SELLER, Role.INVESTOR])

    @extend_schema(request=InputSerializer, responses={201: UserOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_register(**data.validated_data)
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class MeApi(APIView):
    """``GET /api/v1/me``: the signed-in user and their KYC/KYB status."""

    class OutputSerializer(UserOutputSerializer):
        kyc = KycOutputSerializer(allow_null=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        user = request.user
        profile = kyc_profile_for_user(user=user)
        payload = UserOutputSerializer(user).data
        payload["kyc"] = KycOutputSerializer(profile).data if profile else None
        return Response(payload)


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

    @extend_schema(request=InputSerializer, responses={201: KycOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = kyc_submit(user=request.user, **data.validated_data)
        return Response(KycOutputSerializer(profile).data, status=status.HTTP_201_CREATED)


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
