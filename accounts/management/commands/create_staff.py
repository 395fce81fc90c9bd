"""Create a back-office staff account with its roles, without a Django shell.

    PAYMINT_STAFF_PASSWORD=... manage.py create_staff --email ops@example.com \\
        --roles operations,compliance
    manage.py create_staff --email ops@example.com --roles operations   # prompts twice

The password comes from the ``PAYMINT_STAFF_PASSWORD`` environment variable or, when run
interactively, from a hidden prompt asked twice; it is never a command-line argument (that
would land in the shell history and the process list). The account is made by
:func:`accounts.services.staff_user_create`: staff, never a superuser, in the groups of its
roles (:mod:`accounts.roles`).
"""

from __future__ import annotations

import getpass
import os
import sys

from django.core.management.base import BaseCommand, CommandError

from accounts.roles import DEFAULT_ROLES, ROLES
from accounts.services import staff_user_create
from paymint.core.errors import ApplicationError

PASSWORD_ENV = "PAYMINT_STAFF_PASSWORD"


class Command(BaseCommand):
    help = (f"Create a back-office staff account (roles: {', '.join(ROLES)}). The password is "
            f"read from ${PASSWORD_ENV} or prompted for.")

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True, help="The staff member's email (login)")
        parser.add_argument(
            "--roles", default=",".join(DEFAULT_ROLES),
            help=f"Comma-separated roles from {', '.join(ROLES)} "
                 f"(default: {','.join(DEFAULT_ROLES)})")
        parser.add_argument("--no-input", "--noinput", action="store_false", dest="interactive",
                            help=f"Never prompt: ${PASSWORD_ENV} must be set")

    def _password(self, *, interactive: bool) -> str:
        password = os.environ.get(PASSWORD_ENV)
        if password:
            return password
        if not (interactive and sys.stdin.isatty()):
            raise CommandError(f"No password: set {PASSWORD_ENV} or run the command "
                               "interactively to be prompted.")
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("The passwords do not match; nothing was created.")
        return password

    def handle(self, *args, email: str, roles: str, interactive: bool, **options):
        role_names = tuple(name.strip() for name in roles.split(",") if name.strip())
        password = self._password(interactive=interactive)
        try:
            user = staff_user_create(email=email, password=password, roles=role_names)
        except ApplicationError as exc:
            details = exc.fields.get("password", [])  # why a password is too weak
            raise CommandError(" ".join([f"{exc.code}: {exc.message}", *details])) from exc
        self.stdout.write(self.style.SUCCESS(
            f"Created staff account {user.email} with roles {', '.join(role_names)}."))
