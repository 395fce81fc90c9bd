"""Reads whose SQL Django compiles once per process: :class:`PreparedValues`.

Compiling a ``.values()`` queryset (resolving each ``a__b`` column through its joins, building
the ``WHERE``, quoting every name) costs an API list page more CPU than PostgreSQL spends
running it (issue #19: ~0.7-1 ms of the marketplace page's ~7 ms). The hot list reads of the
API always send the same statement with other values, so :class:`PreparedValues` compiles it
once per process and *shape* (its name, the columns, the ordering, which cursor filters,
which slice), with placeholder values in the parameters' places, and then only puts this
request's values in those places: the same SQL text, the same parameters, the same rows (as
``.values()`` dicts, with Django's converters; JSON columns' floats as ``JSONFloat``,
:func:`paymint.core.renderers.json_loads`, so that the fast renderer writes them as
``json.dumps`` does) as the queryset would give.

It stands for the queryset where DRF's :class:`~rest_framework.pagination.CursorPagination`
(or a plain slice / ``list()``) expects one: it supports exactly what they call
(``order_by``, ``filter`` on a column with one lookup, ``[a:b]``, iteration) and nothing else.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import EmptyResultSet
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import JSONField, QuerySet
from django.db.models.fields.json import KeyTransform

from .renderers import json_loads

#: Placeholder values by type: far outside any real value, each one distinct (``n``), so that
#: the compiled parameters can be told apart from the constants of the statement.
_PLACEHOLDERS: dict[type, Callable[[int], object]] = {
    int: lambda n: -4_611_686_018_427_387_904 + n,
    str: lambda n: f"\x00paymint-prepared-{n}\x00",
    Decimal: lambda n: Decimal("-987654321987.1234567") - n,
    dt.datetime: lambda n: dt.datetime(1901, 2, 3, 4, 5, 6, 700_000 + n, tzinfo=dt.UTC),
    dt.date: lambda n: dt.date(1901, 2, 3) + dt.timedelta(days=n),
}


def _placeholder(value, n: int):
    for kind, make in _PLACEHOLDERS.items():
        if type(value) is kind:
            return make(n)
    raise TypeError(f"PreparedValues cannot stand in for a {type(value).__name__} parameter "
                    "(int, str, Decimal, datetime, date only)")


def _json_from_db(value, expression, connection):
    """``JSONField.from_db_value`` (no custom decoder) with :func:`json_loads`: the same
    values, floats as ``JSONFloat``."""
    if value is None:
        return value
    if isinstance(expression, KeyTransform) and not isinstance(value, str):
        return value
    try:
        return json_loads(value)
    except json.JSONDecodeError:
        return value


def _decoded_by(decode: Callable[[str], object]):
    def converter(value, expression, connection):
        return None if value is None else decode(value)
    return converter


def _converter(converter):
    field = getattr(converter, "__self__", None)
    if (isinstance(field, JSONField) and field.decoder is None
            and getattr(converter, "__func__", None) is JSONField.from_db_value):
        return _json_from_db
    return converter


@dataclass(frozen=True)
class _Compiled:
    sql: str | None  # None: the statement can match no row (Django's EmptyResultSet)
    params: tuple
    slots: tuple[tuple[int, str], ...]  # (index in params, name of the value)
    names: tuple[str, ...]
    converters: tuple[tuple[int, tuple, object], ...]  # (column, converters, expression)
    width: int


_CACHE: dict[tuple, _Compiled] = {}
_LOCK = threading.Lock()


class PreparedValues:
    """A ``.values()`` read compiled once per process and shape.

    ``build(**values)`` returns the queryset of ``model`` (a ``.values(...)`` of the columns
    wanted, with its filters and ordering) for the given ``values``; the same statement for
    every set of values (no branches on them). ``name`` names that statement in the
    process-wide cache: one ``name`` per ``build`` (and per set of columns).
    ``values`` are the statement's variable parameters (int, str, Decimal, datetime, date:
    pass a model's ``pk``, not the instance). ``decoders`` (column -> function of the
    database's text) read JSON columns instead of ``json.loads`` (e.g. a per-process memo of
    documents that many reads share); the same ones for every read of a ``name``.

    Raises (at the first read of a shape):
        TypeError: a value of another type.
        ValueError: a value that the compiled statement does not use as one parameter.
    """

    def __init__(self, name: str, model, build: Callable[..., QuerySet],
                 values: Mapping[str, object], *, using: str = DEFAULT_DB_ALIAS,
                 decoders: Mapping[str, Callable[[str], object]] | None = None):
        self._name = name
        self._decoders = decoders or {}
        self._model = model
        self._build = build
        self._values = dict(values)
        self._using = using
        self._ordering: tuple[str, ...] | None = None
        self._lookups: tuple[tuple[str, object], ...] = ()
        self._slice: tuple[int | None, int | None] = (None, None)
        self._rows: list[dict] | None = None

    # --- what CursorPagination and slicing call -------------------------------------------

    def _clone(self) -> PreparedValues:
        clone = PreparedValues(self._name, self._model, self._build, self._values,
                               using=self._using, decoders=self._decoders)
        clone._ordering, clone._lookups, clone._slice = self._ordering, self._lookups, self._slice
        return clone

    def order_by(self, *fields: str) -> PreparedValues:
        clone = self._clone()
        clone._ordering = tuple(fields)
        return clone

    def filter(self, **lookups) -> PreparedValues:
        """One ``column__lookup=value`` per call (what CursorPagination sends)."""
        if self._slice != (None, None):
            raise TypeError("Cannot filter a query once a slice has been taken.")
        clone = self._clone()
        clone._lookups = self._lookups + tuple(sorted(lookups.items()))
        return clone

    def __getitem__(self, k):
        if not isinstance(k, slice) or k.step is not None or self._slice != (None, None):
            raise TypeError("PreparedValues takes one [start:stop] slice")
        clone = self._clone()
        clone._slice = (k.start, k.stop)
        return clone

    def __iter__(self):
        if self._rows is None:
            self._rows = self._fetch()
        return iter(self._rows)

    def __len__(self) -> int:
        return len(list(iter(self)))

    # --- compile once, run many -----------------------------------------------------------

    def _queryset(self, values: Mapping[str, object], lookups: Mapping[str, object]):
        queryset = self._build(**values)
        if self._ordering is not None:
            queryset = queryset.order_by(*self._ordering)
        for lookup, value in lookups.items():
            queryset = queryset.filter(**{lookup: value})
        start, stop = self._slice
        if start is not None or stop is not None:
            queryset = queryset[start:stop]
        return queryset

    def _lookup_values(self) -> dict[str, object]:
        """The cursor filters' values as the database gets them: the column's own
        conversion (``get_prep_value``: a cursor's text position becomes a datetime, or the
        field's ValidationError as the queryset would raise)."""
        out = {}
        for lookup, value in self._lookups:
            column = lookup.rsplit("__", 1)[0]
            field = self._model._meta.get_field(column)
            out[f"lookup:{lookup}"] = field.get_prep_value(value)
        return out

    def _compiled(self, values: Mapping[str, object]) -> _Compiled:
        key = (self._name, self._using, self._ordering,
               tuple(lookup for lookup, _ in self._lookups), self._slice)
        compiled = _CACHE.get(key)
        if compiled is not None:
            return compiled
        names = list(values)
        stand_ins = {name: _placeholder(values[name], n) for n, name in enumerate(names)}
        build_values = {name: stand_ins[name] for name in self._values}
        lookup_values = {lookup: stand_ins[f"lookup:{lookup}"] for lookup, _ in self._lookups}
        queryset = self._queryset(build_values, lookup_values)
        query = queryset.query
        compiler = query.get_compiler(self._using)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            sql, params = None, ()
        slots = []
        for index, param in enumerate(params):
            for name, stand_in in stand_ins.items():
                if type(param) is type(stand_in) and param == stand_in:
                    slots.append((index, name))
        if sql is not None and sorted(name for _, name in slots) != sorted(names):
            raise ValueError(f"{self._name}: each value must be exactly one parameter of the "
                             f"statement (found {[name for _, name in slots]} of {names})")
        params = tuple(None if any(i == index for index, _ in slots) else p
                       for i, p in enumerate(params))
        column_names = (tuple(query.selected) if query.selected else
                        (*query.extra_select, *query.values_select, *query.annotation_select))
        converters = ()
        if sql is not None:
            fields = [s[0] for s in compiler.select[0:compiler.col_count]]
            by_position = {pos: (tuple(_converter(c) for c in convs), expression)
                           for pos, (convs, expression)
                           in compiler.get_converters(fields).items()}
            for column, decode in self._decoders.items():
                pos = column_names.index(column)
                if _json_from_db not in by_position.get(pos, ((), None))[0]:
                    raise ValueError(f"{self._name}: {column} is not a JSON column")
                by_position[pos] = ((_decoded_by(decode),), by_position[pos][1])
            converters = tuple((pos, convs, expression)
                               for pos, (convs, expression) in sorted(by_position.items()))
        compiled = _Compiled(sql=sql, params=params, slots=tuple(slots),
                             names=column_names, converters=converters, width=len(column_names))
        with _LOCK:
            _CACHE.setdefault(key, compiled)
        return compiled

    def _fetch(self) -> list[dict]:
        values = {**self._values, **self._lookup_values()}
        compiled = self._compiled(values)
        if compiled.sql is None:
            return []
        params = list(compiled.params)
        for index, name in compiled.slots:
            params[index] = values[name]
        connection = connections[self._using]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        names, converters = compiled.names, compiled.converters
        out = []
        for row in rows:
            if converters:
                row = list(row)
                for pos, convs, expression in converters:
                    value = row[pos]
                    for converter in convs:
                        value = converter(value, expression, connection)
                    row[pos] = value
            out.append(dict(zip(names, row, strict=False)))
        return out


def prepared_cache_clear() -> None:
    """Forget every compiled statement (tests that change the schema or settings)."""
    with _LOCK:
        _CACHE.clear()
