"""``manage.py create_staff``: staff accounts without a shell; the password from
``PAYMINT_STAFF_PASSWORD`` or a prompt, never from the command line."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.management.commands import create_staff
from accounts.models import User
from tests.helpers import STRONG_PASSWORD


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("create_staff", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def env_password(monkeypatch):
    monkeypatch.setenv("PAYMINT_STAFF_PASSWORD", STRONG_PASSWORD)


def test_creates_staff_with_the_roles_from_the_environment_password(db, env_password):
    out = _run("--email", "Ops@X.example", "--roles", "operations, compliance")
    user = User.objects.get(email="ops@x.example")
    assert (user.is_staff, user.is_superuser, user.role) == (True, False, "STAFF")
    assert {g.name for g in user.groups.all()} == {"operations", "compliance"}
    assert user.check_password(STRONG_PASSWORD)
    assert "ops@x.example" in out and STRONG_PASSWORD not in out


def test_the_password_is_never_a_command_line_option():
    parser = create_staff.Command().create_parser("manage.py", "create_staff")
    assert not [a for a in parser._actions if "password" in " ".join(a.option_strings)]


@pytest.mark.parametrize("args, env, code", [
    (("--roles", "operations,superuser"), STRONG_PASSWORD, "UNKNOWN_ROLE"),
    (("--roles", ""), STRONG_PASSWORD, "UNKNOWN_ROLE"),
    (("--roles", "operations"), "password", "WEAK_PASSWORD"),
])
def test_refusals_are_clear_errors_and_nothing_is_written(db, monkeypatch, args, env, code):
    monkeypatch.setenv("PAYMINT_STAFF_PASSWORD", env)
    with pytest.raises(CommandError, match=code) as refused:
        _run("--email", "new@x.example", *args)
    assert refused.value.returncode == 1
    assert not User.objects.filter(email="new@x.example").exists()


def test_an_email_taken_is_refused(db, env_password):
    _run("--email", "ops@x.example", "--roles", "operations")
    with pytest.raises(CommandError, match="EMAIL_TAKEN") as refused:
        _run("--email", "OPS@x.example", "--roles", "compliance")
    assert refused.value.returncode == 1
    user = User.objects.get(email="ops@x.example")
    assert {g.name for g in user.groups.all()} == {"operations"}


def test_without_the_variable_it_prompts_twice_when_interactive(db, monkeypatch):
    monkeypatch.delenv("PAYMINT_STAFF_PASSWORD", raising=False)
    monkeypatch.setattr(create_staff.sys.stdin, "isatty", lambda: True, raising=False)
    answers = iter([STRONG_PASSWORD, STRONG_PASSWORD, STRONG_PASSWORD, "other-horse-42"])
    prompts = []
    monkeypatch.setattr(create_staff.getpass, "getpass",
                        lambda prompt: prompts.append(prompt) or next(answers))
    _run("--email", "mlro@x.example", "--roles", "compliance")
    assert len(prompts) == 2
    assert User.objects.get(email="mlro@x.example").check_password(STRONG_PASSWORD)

    with pytest.raises(CommandError, match="do not match"):
        _run("--email", "other@x.example", "--roles", "compliance")
    assert not User.objects.filter(email="other@x.example").exists()


def test_without_the_variable_and_no_terminal_it_refuses(db, monkeypatch):
    monkeypatch.delenv("PAYMINT_STAFF_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="PAYMINT_STAFF_PASSWORD"):
        _run("--email", "ops@x.example", "--no-input")
    assert not User.objects.filter(email="ops@x.example").exists()
