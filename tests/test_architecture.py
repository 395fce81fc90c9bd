"""The architecture of docs/architecture.md holds: the import contracts (import-linter,
``.importlinter``), imports inside functions only where unavoidable and explained, and no
``_private`` name imported from another module.

Each test fails when the rule is broken: a new upward import, a new function-local import
without a ``# why`` comment (or the 16th), or a private name used across modules.
"""

from __future__ import annotations

import configparser
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".importlinter"
MAX_FUNCTION_LOCAL_IMPORTS = 15
MAX_IGNORED_IMPORTS = 5


def _figures():
    """scripts/import_figures.py, the one place that reads the imports of the code."""
    spec = importlib.util.spec_from_file_location(
        "import_figures", ROOT / "scripts" / "import_figures.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _contracts() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(comment_prefixes=("#",), inline_comment_prefixes=None)
    parser.read(CONFIG)
    return parser


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache", str(CONFIG)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_only_a_handful_of_ignored_imports_each_with_its_reason():
    lines = CONFIG.read_text().splitlines()
    ignored = [
        i for i, line in enumerate(lines) if "->" in line and not line.lstrip().startswith("#")
    ]
    assert len(ignored) <= MAX_IGNORED_IMPORTS, [lines[i] for i in ignored]
    for i in ignored:
        assert lines[i - 1].lstrip().startswith("#"), f"no reason above: {lines[i].strip()}"


def test_every_module_of_a_split_app_is_in_a_layer():
    """settlements and compliance sit on two layers each (the ledger and compliance's public
    surface low, their workflows high): a new module must be placed, not left unchecked."""
    layers = _contracts()["importlinter:contract:layers"]["layers"]
    placed = {
        name.strip() for line in layers.splitlines() for name in line.split(":") if name.strip()
    }
    not_layered = {
        "settlements.apps",
        "settlements.migrations",
        "compliance.apps",
        "compliance.migrations",
        "compliance.sanctions_data",
    }
    for app in ("settlements", "compliance"):
        for path in sorted((ROOT / app).iterdir()):
            if path.name.startswith(("_", ".")) or not (path.suffix == ".py" or path.is_dir()):
                continue
            module = f"{app}.{path.stem}"
            if module not in not_layered and (
                path.suffix == ".py" or (path / "__init__.py").exists()
            ):
                assert module in placed, f"{module} is in no layer of .importlinter"


def test_function_local_imports_are_few_and_explained():
    figures = _figures()
    local = figures.function_local_imports(figures.import_sites())
    listing = "\n".join(f"{s.path}:{s.line} {s.target}" for s in local)
    assert len(local) <= MAX_FUNCTION_LOCAL_IMPORTS, listing
    unexplained = [f"{s.path}:{s.line}" for s in local if not s.why.lower().startswith("why")]
    assert unexplained == [], f"function-local imports need a '# why: ...' comment: {unexplained}"


def test_no_private_name_is_imported_from_another_module():
    figures = _figures()
    private = [
        f"{site.path}:{site.line} {site.target}.{name}"
        for site, name in figures.private_imports(figures.import_sites())
    ]
    assert private == []
