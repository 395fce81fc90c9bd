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

import pytest
from django.conf import settings

# bandit over the tree and Django started in subprocesses: half a minute in all.
pytestmark = pytest.mark.slow

BASE_DIR = Path(settings.BASE_DIR)
BANDIT = [sys.executable, "-m", "bandit"]


def bandit(*args: str, cwd: Path = BASE_DIR) -> dict:
    result = subprocess.run([*BANDIT, *args, "-f", "json", "-q"], cwd=cwd,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def production_env(**overrides: str | None) -> dict[str, str]:
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
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        "REDIS_URL": "redis://127.0.0.1:6379/1",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}  # None: leave the variable out


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


def production_setup(env: dict[str, str], code: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )


def test_production_refuses_to_start_without_redis_or_a_broker():
    """Rate limits, SEP-10 replay marks and the logout denylist need a store shared by every
    web process: no REDIS_URL (nor a Redis broker it could default to), no start."""
    no_redis = production_setup(production_env(REDIS_URL=None,
                                               CELERY_BROKER_URL="amqp://rabbit:5672//"))
    assert no_redis.returncode != 0
    assert "ImproperlyConfigured: REDIS_URL must be set in production" in no_redis.stderr

    no_broker = production_setup(production_env(CELERY_BROKER_URL=None))
    assert no_broker.returncode != 0
    assert "ImproperlyConfigured: CELERY_BROKER_URL must be set in production" in no_broker.stderr

    per_process = production_setup(production_env(CACHE_URL="locmemcache://"))
    assert per_process.returncode != 0
    assert "CACHES['default'] is django.core.cache.backends.locmem.LocMemCache" in (
        per_process.stderr)


def test_production_caches_live_in_redis_url_by_default():
    show = ("from django.conf import settings as s; "
            "print(s.CACHES['default']['BACKEND'], s.CACHES['default']['LOCATION'], "
            "s.CACHES['throttle']['LOCATION'])")
    result = production_setup(production_env(), show)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.core.cache.backends.redis.RedisCache",
                                     "redis://127.0.0.1:6379/1", "redis://127.0.0.1:6379/1"]
    # A Redis broker alone is enough: REDIS_URL defaults to it.
    result = production_setup(production_env(REDIS_URL=None), show)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1:] == ["redis://127.0.0.1:6379/0"] * 2
