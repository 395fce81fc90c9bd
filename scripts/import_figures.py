"""Import figures of the application code (docs/architecture.md, issue #14).

    .venv/bin/python scripts/import_figures.py [-v] [--layers]

Prints, for ``paymint.core`` and the apps (``UNITS``): the one-way dependencies between them
(module-level and function-local imports alike), the pairs that depend on each other both
ways, the imports made inside functions (``-v`` lists them with their ``# why`` comments) and
the ``_private`` names imported from another module. Migrations are not counted.
``--layers`` also counts the dependencies between the layers of ``.importlinter`` (where
settlements and compliance each sit on two layers), naming every upward one.
``tests/test_architecture.py`` uses :func:`function_local_imports` and
:func:`private_imports` to hold the limits.
"""

from __future__ import annotations

import ast
import itertools
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The units whose dependencies are counted (paymint.core first: it must import none).
UNITS = ("paymint.core", "accounts", "invoices", "marketplace", "settlements", "compliance")
#: Application code: every package whose imports are measured.
APP_PACKAGES = (
    "paymint",
    "accounts",
    "invoices",
    "marketplace",
    "settlements",
    "compliance",
    "demo",
    "devtools",
)


@dataclass(frozen=True)
class ImportSite:
    path: str
    line: int
    module: str  # the importing module
    target: str  # the imported module (resolved)
    names: tuple[str, ...]
    in_function: bool
    why: str  # the comment on the import line or the line above it


def unit_of(module: str) -> str | None:
    for unit in UNITS:
        if module == unit or module.startswith(unit + "."):
            return unit
    return None


def python_files(root: Path = ROOT):
    for package in APP_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _comment(lines: list[str], lineno: int) -> str:
    line = lines[lineno - 1]
    if "#" in line:
        return line.split("#", 1)[1].strip()
    above = lines[lineno - 2].strip() if lineno >= 2 else ""
    return above.lstrip("#").strip() if above.startswith("#") else ""


def _file_sites(path: Path, root: Path) -> list[ImportSite]:
    module = module_name(path, root)
    is_package = path.name == "__init__.py"
    source = path.read_text()
    lines = source.splitlines()
    rel = str(path.relative_to(root))
    sites: list[ImportSite] = []

    def visit(node, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    sites.append(
                        ImportSite(
                            rel,
                            child.lineno,
                            module,
                            alias.name,
                            (),
                            in_function,
                            _comment(lines, child.lineno),
                        )
                    )
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                sites.append(
                    ImportSite(
                        rel,
                        child.lineno,
                        module,
                        target,
                        tuple(a.name for a in child.names),
                        in_function,
                        _comment(lines, child.lineno),
                    )
                )
            visit(child, inner)

    visit(ast.parse(source), False)
    return sites


def import_sites(root: Path = ROOT) -> list[ImportSite]:
    return [site for path in python_files(root) for site in _file_sites(path, root)]


def unit_dependencies(sites: list[ImportSite]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for site in sites:
        source = unit_of(site.module)
        targets = [site.target] + [f"{site.target}.{name}" for name in site.names]
        for target in targets:
            unit = unit_of(target)
            if source and unit and unit != source:
                edges[source].add(unit)
    return edges


def function_local_imports(sites: list[ImportSite] | None = None) -> list[ImportSite]:
    return [s for s in (sites or import_sites()) if s.in_function]


def private_imports(sites: list[ImportSite] | None = None) -> list[tuple[ImportSite, str]]:
    """``_private`` names imported from another module of the application."""
    return [
        (site, name)
        for site in (sites or import_sites())
        for name in site.names
        if name.startswith("_")
        and not name.startswith("__")
        and site.target.split(".")[0] in APP_PACKAGES
        and site.target != site.module
    ]


def layers(config: Path = ROOT / ".importlinter") -> list[list[str]]:
    """The layers contract of ``.importlinter``, top first: each layer's modules."""
    import configparser

    parser = configparser.ConfigParser()
    parser.read(config)
    text = parser["importlinter:contract:layers"]["layers"]
    return [
        [name.strip() for name in line.replace("|", ":").split(":") if name.strip()]
        for line in text.splitlines()
        if line.strip()
    ]


def layer_of(module: str, stack: list[list[str]]) -> int | None:
    """Index (0 = top) of the layer holding ``module``, by its longest listed ancestor."""
    best: tuple[int, int] | None = None
    for index, names in enumerate(stack):
        for name in names:
            if (module == name or module.startswith(name + ".")) and (
                best is None or len(name) > best[1]
            ):
                best = (index, len(name))
    return best[0] if best else None


def layer_figures(sites: list[ImportSite]) -> None:
    stack = layers()
    pairs: set[tuple[int, int]] = set()
    upward: list[str] = []
    for site in sites:
        source = layer_of(site.module, stack)
        for target in [site.target] + [f"{site.target}.{n}" for n in site.names]:
            index = layer_of(target, stack)
            if source is None or index is None or index == source:
                continue
            pairs.add((source, index))
            if index < source:
                upward.append(f"{site.path}:{site.line} -> {target}")
            break
    names = [
        " : ".join(layer) if len(layer) < 3 else f"{layer[0]} : ... ({len(layer)})"
        for layer in stack
    ]
    print(f"dependencies between the {len(stack)} layers of .importlinter: {len(pairs)} (top = 0)")
    for index, name in enumerate(names):
        below = sorted(t for s, t in pairs if s == index)
        print(f"  {index} {name[:60]:60} -> {', '.join(map(str, below)) or '-'}")
    both = {tuple(sorted(p)) for p in pairs if (p[1], p[0]) in pairs}
    print(f"pairs of layers depending on each other both ways: {len(both)}")
    print(f"upward imports (allowed only as ignore_imports of .importlinter): {len(upward)}")
    for line in upward:
        print(f"  {line}")


def main(argv: list[str]) -> None:
    sites = import_sites()
    edges = unit_dependencies(sites)
    pairs = {(a, b) for a in edges for b in edges[a]}
    both = sorted({tuple(sorted(p)) for p in pairs if (p[1], p[0]) in pairs})
    possible = len(UNITS) * (len(UNITS) - 1)
    print(f"one-way dependencies between units: {len(pairs)} of {possible}")
    for unit in UNITS:
        print(f"  {unit:13} -> {', '.join(sorted(edges[unit])) or '-'}")
    print(
        f"pairs depending on each other both ways: {len(both)} of "
        f"{len(list(itertools.combinations(UNITS, 2)))}"
    )
    for a, b in both:
        print(f"  {a} <-> {b}")
    local = function_local_imports(sites)
    print(f"function-local imports: {len(local)}")
    if "-v" in argv:
        for site in local:
            print(
                f"  {site.path}:{site.line} {site.target} {','.join(site.names)}"
                f"  # {site.why or '(no comment)'}"
            )
    private = private_imports(sites)
    print(f"private names imported from another module: {len(private)}")
    for site, name in private:
        print(f"  {site.path}:{site.line} {site.target}.{name}")
    if "--layers" in argv:
        layer_figures(sites)


if __name__ == "__main__":
    main(sys.argv[1:])
