"""Notification categories and channels, and which category each domain event belongs to."""

from __future__ import annotations

from django.db import models

from paymint.core.events import EventName


class Category(models.TextChoices):
    """The groups a user sets preferences for."""

    ACCOUNT = "ACCOUNT", "Account and KYC"
    INVOICES = "INVOICES", "Invoices and listings"
    MONEY = "MONEY", "Money in and out"
    SECURITY = "SECURITY", "Security"


class Channel(models.TextChoices):
    """Where a notification is delivered besides the in-app list (always written)."""

    EMAIL = "EMAIL", "Email"
    PUSH = "PUSH", "Push to the mobile app"


class DeliveryStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    SENT = "SENT", "Sent"
    FAILED = "FAILED", "Failed"
    SKIPPED = "SKIPPED", "Skipped"


class DevicePlatform(models.TextChoices):
    ANDROID = "ANDROID", "Android"
    IOS = "IOS", "iOS"


#: The category of every event PayMint emits (a new EventName must be placed: a test checks).
EVENT_CATEGORY: dict[EventName, Category] = {
    EventName.KYC_APPROVED: Category.ACCOUNT,
    EventName.KYC_REJECTED: Category.ACCOUNT,
    EventName.INVOICE_EXTRACTED: Category.INVOICES,
    EventName.INVOICE_PRICED: Category.INVOICES,
    EventName.INVOICE_REJECTED: Category.INVOICES,
    EventName.INVOICE_CANCELLED: Category.INVOICES,
    EventName.LISTING_FUNDED: Category.INVOICES,
    EventName.INVOICE_DISBURSED: Category.INVOICES,
    EventName.INVOICE_OVERDUE: Category.INVOICES,
    EventName.INVOICE_DEFAULTED: Category.INVOICES,
    EventName.INVOICE_WRITTEN_OFF: Category.INVOICES,
    EventName.INVOICE_SETTLED: Category.INVOICES,
    EventName.DEBTOR_CONFIRMED: Category.INVOICES,
    EventName.DEBTOR_DISPUTED: Category.INVOICES,
    EventName.INVESTMENT_CONFIRMED: Category.MONEY,
    EventName.REPAYMENT_RECEIVED: Category.MONEY,
    EventName.DEPOSIT_RECEIVED: Category.MONEY,
    EventName.WITHDRAWAL_PAID: Category.MONEY,
    EventName.WITHDRAWAL_FAILED: Category.MONEY,
    EventName.SECURITY_NEW_SIGN_IN: Category.SECURITY,
    EventName.SECURITY_PASSWORD_CHANGED: Category.SECURITY,
    EventName.SECURITY_TWO_FACTOR_CHANGED: Category.SECURITY,
}

#: Events that stay in the app whatever the preferences (the invoice pipeline's intermediate
#: steps: the seller is looking at the page anyway).
QUIET_EVENTS: frozenset[EventName] = frozenset(
    {EventName.INVOICE_EXTRACTED, EventName.INVOICE_PRICED}
)
#: Categories whose email cannot be turned off (a user must hear of a new sign-in).
MANDATORY_EMAIL: frozenset[Category] = frozenset({Category.SECURITY})
