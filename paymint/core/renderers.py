"""JSON in and out of the hot API reads with orjson, byte for byte what the standard library
and DRF would give (issue #19: encoding a marketplace page with DRF's ``JSONRenderer`` cost
~0.5-0.8 ms of its ~5 ms; orjson writes it in a fifth of that).

orjson writes some floats unlike Python (``1e-7`` for ``1e-07``, ``0.00001`` for ``1e-05``,
``1e16`` for ``1e+16``), so floats are kept apart:

- :func:`json_loads` (database JSON text, Django's ``JSONField``): ``json.loads`` with its
  floats as :class:`JSONFloat` (a ``float``: same value, same ``repr``).
- :class:`FastJSONRenderer`: DRF's :class:`~rest_framework.renderers.JSONRenderer` (compact,
  UTF-8, U+2028/U+2029 escaped) through orjson for dicts with ``str`` keys, lists, tuples,
  ``str``, ``int`` (64-bit), ``bool``, ``None``, UUIDs and :class:`JSONFloat` (written with
  ``float.__repr__``, as ``json.dumps`` does). Anything else - a ``Decimal``, a datetime, a
  lazy string, another subclass, a dataclass, a non-finite float - sends the whole answer
  through DRF's own renderer: the same bytes, or DRF's error. A plain ``float`` is the one
  thing it does not check (that would cost what it saves): views that use it
  (:data:`FAST_RENDERERS`) answer rows of strings, integers, booleans and database JSON only,
  and a test holds each one's bytes to DRF's.
"""

from __future__ import annotations

import json
import math

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.settings import api_settings

_OPTIONS = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
            | orjson.OPT_PASSTHROUGH_SUBCLASS)


class JSONFloat(float):
    """A float read from database JSON: orjson hands it to :func:`_encode`, which writes it as
    ``json.dumps`` does."""

    __slots__ = ()


class _NotNative(Exception):
    pass


def _encode(value):
    if type(value) is JSONFloat and math.isfinite(value):
        return orjson.Fragment(float.__repr__(value).encode())
    raise _NotNative


class FastJSONRenderer(JSONRenderer):
    """:class:`~rest_framework.renderers.JSONRenderer` through orjson when that gives the
    same bytes (see the module's docstring); DRF's own rendering otherwise (an indent asked
    for, non-compact or ASCII-only settings, a type orjson would write differently)."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None or not self.compact or self.ensure_ascii or \
                self.get_indent(accepted_media_type, renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        try:
            out = orjson.dumps(data, default=_encode, option=_OPTIONS)
        except (_NotNative, TypeError, orjson.JSONEncodeError):
            return super().render(data, accepted_media_type, renderer_context)
        if b"\xe2\x80\xa8" in out or b"\xe2\x80\xa9" in out:
            out = out.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return out


#: The API's renderers with :class:`FastJSONRenderer` first (a view's ``renderer_classes``).
FAST_RENDERERS = [FastJSONRenderer, *api_settings.DEFAULT_RENDERER_CLASSES]


def json_loads(text: str):
    """``json.loads(text)`` with its floats (and ``NaN``/``Infinity``) as :class:`JSONFloat`:
    the same values, the same ``JSONDecodeError``. (orjson's ``loads`` reads integers beyond
    64 bits as floats, and telling its floats apart afterwards cost as much as it saved.)"""
    return json.loads(text, parse_float=JSONFloat, parse_constant=_constant)


def _constant(name: str) -> JSONFloat:
    return JSONFloat(name.lower())
