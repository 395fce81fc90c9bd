"""Which error codes each API operation can answer with, read from the code itself.

The OpenAPI schema (:mod:`paymint.core.schema`) lists on every operation the codes it can
raise, so that clients switch on documented codes and a new ``raise`` shows up in the schema
without anyone remembering to add it. The list is found statically (the source is parsed with
:mod:`ast`, nothing is run):

* a function *raises* every :class:`~paymint.core.error_codes.ErrorCode` member it names
  (``code=InvoicesError.INVOICE_NOT_FOUND``, ``Check(InvoicesError.MISSING_FIELD, ...)``) and
  the ``code`` of every error class it calls (``raise UploadQuotaExceeded(...)``);
* it can also raise what the functions it calls can raise: calls are resolved through the
  module's imports, its own functions and classes, ``self.method`` in its class and
  ``module.function`` of an imported module (dynamic calls - signals, ``getattr`` - are not
  followed);
* an operation is its API class's handler (``get``, ``post``, ...) and ``initial`` (the
  Idempotency-Key mixin), along the class's bases, plus ``has_permission`` of its permission
  classes and the methods of its authentication classes; the framework's own codes
  (:data:`FRAMEWORK_CODES`) are added to every operation.

It over-approximates (a branch that cannot run for this operation still counts), which is the
safe side for documentation. ``tests/test_error_codes.py`` holds the rules.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from django.apps import apps
from django.conf import settings

from .error_codes import CoreError, ErrorCode

#: Codes the API framework itself may answer any operation with (paymint.core.api).
FRAMEWORK_CODES = {
    "GET": (
        CoreError.NOT_AUTHENTICATED,
        CoreError.AUTHENTICATION_FAILED,
        CoreError.PERMISSION_DENIED,
        CoreError.NOT_FOUND,
        CoreError.VALIDATION_ERROR,
        CoreError.RATE_LIMITED,
        CoreError.INTERNAL_ERROR,
        CoreError.SERVICE_UNAVAILABLE,
    ),
    "WRITE": (
        CoreError.NOT_AUTHENTICATED,
        CoreError.AUTHENTICATION_FAILED,
        CoreError.PERMISSION_DENIED,
        CoreError.NOT_FOUND,
        CoreError.VALIDATION_ERROR,
        CoreError.MALFORMED_REQUEST,
        CoreError.UNSUPPORTED_MEDIA_TYPE,
        CoreError.RATE_LIMITED,
        CoreError.INTERNAL_ERROR,
        CoreError.SERVICE_UNAVAILABLE,
    ),
}
HANDLERS = ("get", "post", "put", "patch", "delete")


def error_code_enums() -> list[type[ErrorCode]]:
    """Every ErrorCode enum: core's and each app's ``error_codes`` module (an app may keep
    more, e.g. ``settlements.ledger.error_codes``)."""
    for config in apps.get_app_configs():
        for path in sorted(Path(config.path).rglob("error_codes.py")):
            if "migrations" in path.parts:
                continue
            relative = path.relative_to(Path(config.path)).with_suffix("")
            importlib.import_module(".".join((config.name, *relative.parts)))
    found: list[type[ErrorCode]] = []
    stack = list(ErrorCode.__subclasses__())
    while stack:
        enum = stack.pop()
        found.append(enum)
        stack.extend(enum.__subclasses__())
    return sorted(found, key=lambda e: (e.__module__, e.__name__))


@cache
def declared_codes() -> dict[str, dict[str, ErrorCode]]:
    """``{enum class name: {member name: member}}`` of every ErrorCode enum."""
    return {enum.__name__: dict(enum.__members__) for enum in error_code_enums()}


@dataclass
class _Module:
    name: str
    tree: ast.Module
    is_package: bool
    imports: dict[str, str] = field(default_factory=dict)  # local name -> dotted target


class _Index:
    """The application's modules, parsed once: functions, classes, imports."""

    def __init__(self, packages: Iterable[str]) -> None:
        root = Path(settings.BASE_DIR)
        self.modules: dict[str, _Module] = {}
        for package in packages:
            for path in sorted((root / package.replace(".", "/")).rglob("*.py")):
                if "migrations" in path.parts:
                    continue
                parts = list(path.relative_to(root).with_suffix("").parts)
                is_package = parts[-1] == "__init__"
                if is_package:
                    parts.pop()
                name = ".".join(parts)
                module = _Module(name, ast.parse(path.read_text()), is_package)
                self._read_imports(module)
                self.modules[name] = module
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.classes: dict[str, ast.ClassDef] = {}
        self.owner: dict[str, str] = {}  # qualified function/class name -> module name
        for module in self.modules.values():
            for node in module.tree.body:
                self._index(module.name, node, prefix=module.name)

    def _read_imports(self, module: _Module) -> None:
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    module.imports[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else alias.name.split(".")[0]
                    )
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.name.split(".")
                    if not module.is_package:
                        base = base[:-1]
                    base = base[: len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    module.imports[alias.asname or alias.name] = f"{target}.{alias.name}"

    def _index(self, module: str, node: ast.AST, *, prefix: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            self.functions[f"{prefix}.{node.name}"] = node
            self.owner[f"{prefix}.{node.name}"] = module
        elif isinstance(node, ast.ClassDef):
            qualified = f"{prefix}.{node.name}"
            self.classes[qualified] = node
            self.owner[qualified] = module
            for child in node.body:
                self._index(module, child, prefix=qualified)

    def resolve(self, dotted: str) -> str | None:
        """A dotted name (``package.module.name``, possibly re-exported by a package) ->
        the qualified name of the function or class it is, or None."""
        seen = set()
        while dotted not in seen:
            seen.add(dotted)
            if dotted in self.functions or dotted in self.classes:
                return dotted
            module, _, name = dotted.rpartition(".")
            if module in self.modules and name in self.modules[module].imports:
                dotted = self.modules[module].imports[name]
                continue
            return None
        return None


@cache
def _index() -> _Index:
    return _Index(_application_packages())


def _application_packages() -> tuple[str, ...]:
    root = Path(settings.BASE_DIR)
    return tuple(
        config.name
        for config in apps.get_app_configs()
        if Path(config.path).is_relative_to(root) and config.name != "paymint.core"
    ) + ("paymint",)


def _member(node: ast.AST, module: _Module) -> ErrorCode | None:
    """``SomeError.MEMBER`` (an ErrorCode enum named in this module) -> the member."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        enum_name = module.imports.get(node.value.id, node.value.id).rpartition(".")[2]
        return declared_codes().get(enum_name, {}).get(node.attr)
    return None


def _class_code(index: _Index, qualified: str, seen: frozenset = frozenset()) -> ErrorCode | None:
    """The ``code`` an error class (or its nearest base that sets one) declares."""
    node = index.classes.get(qualified)
    if node is None or qualified in seen:
        return None
    module = index.modules[index.owner[qualified]]
    for statement in node.body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and statement.targets[0].id in ("code", "error_code")
        ):
            return _member(statement.value, module)
    for base in node.bases:
        name = _dotted(base)
        target = name and index.resolve(_qualify(name, module))
        if target:
            code = _class_code(index, target, seen | {qualified})
            if code is not None:
                return code
    return None


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else None
    return None


def _qualify(name: str, module: _Module) -> str:
    """A name as written in ``module`` -> a dotted name to resolve."""
    head, _, rest = name.partition(".")
    if head in module.imports:
        return f"{module.imports[head]}.{rest}" if rest else module.imports[head]
    return f"{module.name}.{name}"


@cache
def codes_of(qualified: str) -> frozenset[ErrorCode]:
    """Every code the function or method ``qualified`` (``module.func``,
    ``module.Class.method``) can raise, through the calls it makes."""
    index = _index()
    found: set[ErrorCode] = set()
    seen: set[str] = set()
    pending = [qualified]
    while pending:
        current = pending.pop()
        if current in seen or current not in index.functions:
            continue
        seen.add(current)
        module = index.modules[index.owner[current]]
        class_prefix = current.rpartition(".")[0]
        for node in ast.walk(index.functions[current]):
            member = _member(node, module)
            if member is not None:
                found.add(member)
            if not isinstance(node, ast.Call):
                continue
            name = _dotted(node.func)
            if name is None:
                continue
            if name.startswith("self.") and class_prefix in index.classes:
                target = f"{class_prefix}.{name[5:]}"
            else:
                target = index.resolve(_qualify(name, module))
            if target is None:
                continue
            if target in index.classes:
                code = _class_code(index, target)
                if code is not None:
                    found.add(code)
                pending.append(f"{target}.__init__")
            else:
                pending.append(target)
    return frozenset(found)


def operation_codes(view_class: type, method: str) -> list[ErrorCode]:
    """The codes ``view_class`` can answer ``method`` with (its handler, ``initial``, its
    permission classes, the framework's codes), sorted by status then name."""
    codes: set[ErrorCode] = set(FRAMEWORK_CODES["GET" if method == "GET" else "WRITE"])
    for klass in view_class.__mro__:
        qualified = f"{klass.__module__}.{klass.__qualname__}"
        for name in (method.lower(), "initial"):
            codes |= codes_of(f"{qualified}.{name}")
    for permission in getattr(view_class, "permission_classes", ()):
        for klass in permission.__mro__:
            qualified = f"{klass.__module__}.{klass.__qualname__}"
            codes |= codes_of(f"{qualified}.has_permission")
    for authentication in getattr(view_class, "authentication_classes", ()):
        for klass in authentication.__mro__:
            qualified = f"{klass.__module__}.{klass.__qualname__}"
            for method in vars(klass):
                codes |= codes_of(f"{qualified}.{method}")
    return sorted(codes, key=lambda c: (c.http_status, str(c)))
