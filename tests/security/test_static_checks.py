"""Static security checks, run by the test suite because CI runs ``make test`` (``make
security`` runs the same two commands):

- bandit over the project (config ``[tool.bandit]`` in pyproject.toml: tests, benchmarks and
  the virtualenv excluded) at medium severity and above: no finding;
- ``manage.py check --deploy --fail-level WARNING`` on ``paymint.settings.production`` in a
  clean environment holding only the variables production requires (dummy values): no issue.

Each has a control that proves the check bites (a planted finding, an unsafe setting).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
BANDIT = [sys.executable, "-m", "bandit"]


def bandit(*args: str, cwd: Path = BASE_DIR) -> dict:
    result = subprocess.run([*BANDIT, *args, "-f", "json", "-q"], cwd=cwd,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def production_env(**overrides: str) -> dict[str, str]:
    """Only what production.py needs, with dummy values (no secret of this machine)."""
    from cryptography.fernet import Fernet

    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",  # noqa: S108 - a dummy home for the subprocess
        "DJANGO_SETTINGS_MODULE": "paymint.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "BANK_WEBHOOK_SECRET": secrets.token_hex(16),
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/paymint",
        "DJANGO_ALLOWED_HOSTS": "paymint.example",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }
    env.update(overrides)
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=300,
    )


def test_bandit_reports_nothing_at_medium_severity():
    report = bandit("-r", "-c", "pyproject.toml", ".", "--severity-level", "medium")
    findings = [f"{r['test_id']} {r['filename']}:{r['line_number']} {r['issue_text']}"
                for r in report["results"]]
    assert not findings, "\n".join(findings)
    scanned = report["metrics"]["_totals"]["loc"]
    assert scanned > 10_000, scanned  # the project was scanned, not an empty tree
    assert not any(".venv" in name or "/tests/" in name for name in report["metrics"])


def test_bandit_control_finds_a_planted_issue(tmp_path):
    (tmp_path / "pyproject.toml").write_text((BASE_DIR / "pyproject.toml").read_text())
    (tmp_path / "app.py").write_text("import subprocess\n\n\ndef run(cmd):\n"
                                     "    return subprocess.call(cmd, shell=True)\n")
    report = bandit("-r", "-c", "pyproject.toml", ".", "--severity-level", "medium",
                    cwd=tmp_path)
    assert [r["test_id"] for r in report["results"]] == ["B602"]


def test_check_deploy_is_clean_on_production_settings():
    result = check_deploy(production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout


def test_check_deploy_control_flags_an_unsafe_setting():
    """HSTS switched off through the environment: the deployment check must fail."""
    result = check_deploy(production_env(DJANGO_SECURE_HSTS_SECONDS="0"))
    assert result.returncode != 0
    assert "security.W004" in result.stdout + result.stderr
