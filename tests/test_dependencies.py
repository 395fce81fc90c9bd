"""The lock file pins every dependency pyproject.toml declares, so `make` installs what the
ranges allow and nothing unpinned (a range added without `make lock` fails here)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from django.conf import settings
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(settings.BASE_DIR)


def _pins() -> dict[str, str]:
    text = (ROOT / "requirements" / "lock.txt").read_text()
    return {canonicalize_name(name): version
            for name, version in re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$", text, re.M)}


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        names += extra
    return [Requirement(spec) for spec in names]


def test_every_declared_dependency_is_pinned_within_its_range():
    pins = _pins()
    problems = []
    for requirement in _declared():
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            problems.append(f"{requirement.name}: not in requirements/lock.txt")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(f"{requirement.name}: pinned {pinned} outside {requirement.specifier}")
    assert not problems, "run `make lock`: " + "; ".join(problems)


def test_every_pin_carries_a_hash():
    text = (ROOT / "requirements" / "lock.txt").read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n\n", 1)[1])
    unhashed = [block.split()[0] for block in blocks
                if "==" in block.split()[0] and "--hash=sha256:" not in block]
    assert not unhashed
