"""Dashboard forms for sign-in, sign-up and KYC/KYB onboarding.

Forms only check the shape of the input; the rules (password strength, tax id checksums, allowed
status moves) are the services', whose errors go back on the form with
:class:`paymint.core.web.ServiceErrorFormMixin`.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import (
    AdminPasswordChangeForm,
    AuthenticationForm,
    PasswordChangeForm,
    PasswordResetForm,
    SetPasswordForm,
)

from paymint.core.web import ServiceErrorFormMixin

from .auth_tokens import user_refresh_tokens_revoke
from .enums import Role
from .links import password_reset_link_for
from .password_reset import password_reset_request
from .services import user_password_set


class EmailAuthenticationForm(AuthenticationForm):
    """Django's login form; the username field is the email address (``USERNAME_FIELD``)."""

    username = forms.EmailField(
        label="Email",
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )


class SignupForm(ServiceErrorFormMixin, forms.Form):
    email = forms.EmailField(
        label="Work email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 10 characters; not a common or all-numeric password.",
    )
    role = forms.ChoiceField(
        label="I want to",
        choices=[
            (Role.SELLER, "Get paid early for my invoices (seller)"),
            (Role.INVESTOR, "Fund invoices and earn a return (investor)"),
        ],
        widget=forms.RadioSelect,
    )


class KycForm(ServiceErrorFormMixin, forms.Form):
    legal_name = forms.CharField(
        label="Legal name",
        max_length=200,
        help_text="Your company's registered name (sellers) or your full legal name (investors).",
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    country = forms.CharField(
        label="Country",
        min_length=2,
        max_length=2,
        help_text="Two-letter ISO code, e.g. DE, FR, IN, GB.",
        widget=forms.TextInput(
            attrs={
                "autocomplete": "country",
                "size": 2,
                "pattern": "[A-Za-z]{2}",
                "class": "uppercase",
            }
        ),
    )
    tax_id = forms.CharField(
        label="Tax id",
        max_length=32,
        help_text="VAT number (EU, GB, CH), GSTIN or PAN (IN), EIN (US), ABN (AU).",
    )
    address = forms.CharField(
        label="Address",
        max_length=300,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "autocomplete": "street-address"}),
    )
    date_of_birth = forms.DateField(
        label="Date of birth",
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}),
    )
    identity_document_number = forms.CharField(
        label="Passport or ID card number",
        max_length=64,
        required=False,
        help_text="The number of the identity document you upload below.",
    )
    bank_account_iban = forms.CharField(
        label="Bank account (IBAN) for withdrawals",
        max_length=42,
        required=False,
        help_text="Where we pay your money out, e.g. DE89 3704 0044 0532 0130 00. Stored "
        "encrypted; we show only its first and last characters.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    document = forms.FileField(
        label="Identity or company registration document",
        required=False,
        help_text="PDF, PNG or JPEG, up to 10 MB: your passport or ID card (investors) or a "
        "recent company register extract (sellers). Only PayMint's compliance staff see it.",
        widget=forms.FileInput(attrs={"accept": "application/pdf,image/png,image/jpeg"}),
    )
    declared_investment = forms.DecimalField(
        label="How much do you plan to invest in the next 12 months? (EUR)",
        required=False,
        min_value=0,
        max_digits=14,
        decimal_places=2,
        help_text="An estimate is fine. Large amounts are reviewed by two compliance officers.",
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )

    def __init__(
        self, *args, role: str = Role.INVESTOR, document_on_file: bool = False, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        if role != Role.INVESTOR:
            del self.fields["declared_investment"]
            # Individuals only (KYC): a company (KYB) has no birth date or passport.
            del self.fields["date_of_birth"]
            del self.fields["identity_document_number"]
        if document_on_file:
            self.fields["document"].help_text = (
                "We already have your document; upload a new one only if it changed. "
                + self.fields["document"].help_text
            )
        else:
            self.fields["document"].required = True

    def clean_country(self) -> str:
        return self.cleaned_data["country"].strip().upper()


class OtpTokenForm(ServiceErrorFormMixin, forms.Form):
    """A six-digit code from the authenticator app."""

    token = forms.CharField(
        label="6-digit code from your authenticator app",
        min_length=6,
        max_length=8,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "pattern": "[0-9 ]*",
                "autofocus": True,
                "size": 8,
            }
        ),
    )


class PasswordResetRequestForm(PasswordResetForm):
    """The "forgot password" form; the mail is sent by
    :func:`accounts.password_reset.password_reset_request` (the API's service too)."""

    def save(self, *, request=None, **kwargs) -> None:
        password_reset_request(email=self.cleaned_data["email"],
                               link_for=password_reset_link_for(request))


class TwoFactorDisableForm(ServiceErrorFormMixin, forms.Form):
    """Turning two-factor off: the password and a current code."""

    password = forms.CharField(
        label="Your password", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    token = forms.CharField(
        label="6-digit code from your authenticator app", min_length=6, max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                      "pattern": "[0-9 ]*", "size": 8}),
    )


class PasswordResetSetForm(SetPasswordForm):
    """The new password from a reset link, saved by :func:`accounts.services.user_password_set`
    (revokes API refresh tokens, clears sign-in lockouts of the address)."""

    def save(self, commit=True):
        user_password_set(user=self.user, password=self.cleaned_data["new_password1"],
                          via_reset=True)
        return self.user


class PasswordChangeServiceForm(PasswordChangeForm):
    """Current and new password, saved by :func:`accounts.services.user_password_set`."""

    def save(self, commit=True):
        user_password_set(user=self.user, password=self.cleaned_data["new_password1"])
        return self.user


class AdminPasswordChangeServiceForm(AdminPasswordChangeForm):
    """The admin's "change password" form; also revokes the user's API refresh tokens."""

    def save(self, commit=True):
        user = super().save(commit=commit)
        if commit:
            user_refresh_tokens_revoke(user=user)
        return user
