"""Back-office roles: Django groups with explicit permissions, defined here and nowhere else.

Staff accounts are never superusers (``staff_user_create`` adds them to these groups); a
superuser exists only as a break-glass account made with ``manage.py createsuperuser``.

What each role may do in the admin was read from the ``ModelAdmin`` classes and their actions:

- ``operations``: the day-to-day back office. Views every business record the admin shows
  (users, KYC/KYB profiles with their documents, approvals and history, invoices, listings,
  investments, the ledger, bank events, settlements, the Stellar outbox and accounts, alerts,
  holds, the loaded sanctions/PEP lists, the audit trail behind the History buttons) and
  changes only what an admin action changes: KYC/KYB approve/reject (``change_kycprofile``),
  invoice verify/reject/dispute (``change_invoice``), chain transaction requeue
  (``change_chaintransaction``), alert start-review/assign/note/resolve
  (``change_compliancealert``) and hold release (``change_accounthold``; a PEP hold still
  needs ``senior_management``).
- ``compliance``: the compliance officer (MLRO/DPO): reads the same records for
  investigations, works alerts and holds, and makes the decisions operations cannot:
  escalating an alert to a suspicious activity report and exporting the SAR file
  (``compliance.escalate_alert``) and data-subject erasure requests
  (``change_dataerasurerequest``).
- ``senior_management``: approves business relationships with politically exposed persons
  (``compliance.approve_pep_relationship``, FATF R.12) and reaches the hold release for it.
- ``finance``: runs the money out (issue #13): makes payout batches of withdrawals, approves
  the batches *others* made (maker-checker, enforced by the service and the database),
  exports their bank files, uploads the bank's camt.054 statements and retries failed
  payouts (``settlements.create_payoutbatch``, ``approve_payoutbatch``,
  ``export_payoutbatch``, ``settle_payoutbatch``, ``retry_payout``: permissions of their
  own, not ``add_``/``change_``), and allocates unmatched money (suspense credits, receipts no
  webhook announced) with four eyes (``propose_allocation``, ``approve_allocation``). It
  reads only the money records it reconciles: users, the ledger, bank events, settlements,
  withdrawals, payouts, allocations, invoices and investments, and the audit trail behind
  the History buttons - not KYC documents, alerts, holds or sanctions lists. Operations see
  withdrawals, payouts and allocations but cannot act on them.

Nobody here may delete anything, nor add or change users, groups, permissions or TOTP
devices (managing staff accounts is a superuser's job: ``is_superuser``/``groups`` on a
user would be a privilege escalation). Financial and audit records are read-only and
undeletable in their admins whatever the permissions.

The groups are created and kept in sync by :func:`roles_sync`, run after every ``migrate``
(see :meth:`accounts.apps.AccountsConfig.ready` for why not in a data migration).
"""

from __future__ import annotations

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

#: Read access to the business records shown in the admin (the changelists and the inlines).
_VIEW_RECORDS = (
    "accounts.view_user",
    "accounts.view_kycprofile",
    "accounts.view_kycdocument",
    "accounts.view_kycapproval",
    "accounts.view_kycstatusevent",
    "invoices.view_invoice",
    "invoices.view_invoicestatusevent",
    "marketplace.view_listing",
    "marketplace.view_investment",
    "settlements.view_journalentry",
    "settlements.view_posting",
    "settlements.view_ledgeraccount",
    "settlements.view_bankevent",
    "settlements.view_settlement",
    "settlements.view_chaintransaction",
    "settlements.view_chaintransactionevent",
    "settlements.view_stellaraccount",
    "compliance.view_compliancealert",
    "compliance.view_alertnote",
    "compliance.view_accounthold",
    "compliance.view_sanctionedparty",
    "compliance.view_auditevent",
)

#: Withdrawals and payout batches (the admin lists, their items and status history).
_VIEW_PAYOUTS = (
    "settlements.view_withdrawal",
    "settlements.view_payoutbatch",
    "settlements.view_payoutitem",
    "settlements.view_payoutbatchevent",
)

#: Allocations of unmatched money (the suspense queue is the bank events list, filtered).
_VIEW_ALLOCATIONS = ("settlements.view_suspenseallocation",)

#: Working alerts and releasing (non-PEP) holds.
_WORK_ALERTS = (
    "compliance.change_compliancealert",
    "compliance.change_accounthold",
)

#: Role name (= group name) -> the permissions of its group, as ``app_label.codename``.
ROLES: dict[str, tuple[str, ...]] = {
    "operations": (
        *_VIEW_RECORDS,
        *_VIEW_PAYOUTS,
        *_VIEW_ALLOCATIONS,
        *_WORK_ALERTS,
        "accounts.change_kycprofile",
        "invoices.change_invoice",
        "settlements.change_chaintransaction",
        "pools.view_pool",
        "pools.change_pool",
        "pools.view_poolholding",
        "pools.view_redemptionrequest",
        "pools.view_navsnapshot",
    ),
    "compliance": (
        *_VIEW_RECORDS,
        *_WORK_ALERTS,
        "compliance.escalate_alert",
        "compliance.view_dataerasurerequest",
        "compliance.change_dataerasurerequest",
    ),
    "finance": (
        "accounts.view_user",
        "invoices.view_invoice",
        "marketplace.view_listing",
        "marketplace.view_investment",
        "settlements.view_journalentry",
        "settlements.view_posting",
        "settlements.view_ledgeraccount",
        "settlements.view_bankevent",
        "settlements.view_settlement",
        "compliance.view_auditevent",
        *_VIEW_PAYOUTS,
        "settlements.create_payoutbatch",
        "settlements.approve_payoutbatch",
        "settlements.export_payoutbatch",
        "settlements.settle_payoutbatch",
        "settlements.retry_payout",
        *_VIEW_ALLOCATIONS,
        "settlements.propose_allocation",
        "settlements.approve_allocation",
    ),
    "senior_management": (
        "compliance.approve_pep_relationship",
        "compliance.view_accounthold",
        "compliance.change_accounthold",
        "compliance.view_compliancealert",
        "compliance.view_alertnote",
    ),
}

#: The roles an operations account gets unless told otherwise.
DEFAULT_ROLES = ("operations",)


def _permissions(names: tuple[str, ...], *, using: str) -> list[Permission]:
    wanted = {tuple(name.split(".", 1)) for name in names}
    found = {
        (p.content_type.app_label, p.codename): p
        for p in Permission.objects.using(using).select_related("content_type").filter(
            codename__in={codename for _, codename in wanted}
        )
        if (p.content_type.app_label, p.codename) in wanted
    }
    missing = sorted(f"{app}.{codename}" for app, codename in wanted - found.keys())
    if missing:
        raise ImproperlyConfigured(f"Unknown permissions in accounts.roles.ROLES: {missing}")
    return list(found.values())


def roles_sync(*, using: str = "default") -> dict[str, Group]:
    """Create or update one group per role in :data:`ROLES` with exactly its permissions
    (permissions no longer listed are removed). Idempotent; other groups are left alone.

    The permissions must exist (``post_migrate`` creates them; :func:`roles_install` makes
    sure first).

    Returns:
        The groups by role name.

    Raises:
        ImproperlyConfigured: a permission in :data:`ROLES` does not exist (a typo, or a
            model that was removed).
    """
    groups = {}
    with transaction.atomic(using=using):
        for name, permission_names in ROLES.items():
            group, _ = Group.objects.using(using).get_or_create(name=name)
            group.permissions.set(_permissions(permission_names, using=using))
            groups[name] = group
    return groups


def roles_install(*, using: str = "default") -> dict[str, Group]:
    """Create the permissions of every app the roles name (idempotent), then
    :func:`roles_sync`. For a database whose permissions may not exist yet: during
    ``post_migrate`` (Django's own receiver may not have reached the apps after ``accounts``)
    or after a flush that skipped ``post_migrate``."""
    labels = {name.split(".", 1)[0] for names in ROLES.values() for name in names}
    for label in sorted(labels):
        create_permissions(global_apps.get_app_config(label), verbosity=0, using=using)
    return roles_sync(using=using)


def role_groups(roles, *, using: str = "default") -> list[Group]:
    """The groups of ``roles`` (names in :data:`ROLES`), installed by :func:`roles_install` if
    a database has not got them (one migrated before the roles existed, or flushed)."""
    names = set(roles)
    groups = list(Group.objects.using(using).filter(name__in=names))
    if len(groups) != len(names):
        installed = roles_install(using=using)
        groups = [installed[name] for name in names]
    return groups


def roles_post_migrate(sender, *, using: str = "default", **kwargs) -> None:
    """``post_migrate`` receiver (connected for the accounts app): :func:`roles_install`."""
    roles_install(using=using)
