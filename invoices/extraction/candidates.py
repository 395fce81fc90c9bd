"""Label-anchored candidates and value parsers: the building blocks of the field rules.

A label (multilingual dictionary in :mod:`labels`) is searched in every text segment; its value
is taken from the rest of the segment, the next segment to the right on the same line, or the
segment below it (column layouts). Each hit is a :class:`Cand` ranked by label tier and
position.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from . import labels as L
from .layout import Document, Line, Segment
from .parsing import (
    AmountMatch,
    find_amounts,
    find_dates,
    looks_like_date,
    parse_money_value,
)
from .schema import ExtractedField


@dataclass
class Cand:
    value: Any
    tier: int
    how: str  # same | right | below | column | fallback
    label: Segment | None
    at: Segment | None  # where the value was read

    @property
    def pos(self) -> tuple[int, float]:
        seg = self.at or self.label
        return (seg.page, seg.top) if seg else (0, 0.0)


SENDER_SPLIT = re.compile(r"\s*[●•·|∙]\s*|\s+[-–]\s+")
ADDRESS = re.compile(
    r"\b(?:[A-Z]{1,2}[- ]?)?\d{4,6}\b|\b(?:str\.|straße|strasse|street|st\b|road|rd\b|ave|"
    r"avenue|rue|weg|platz|allee|lane|blvd|suite|po box|postfach)",
    re.I,
)
FILLER = re.compile(r"^[\s:#\-–|=*.]*(?:[A-Z]{3}|[$€£₹])?[\s:#\-–|=*.]*$")
TIER_CONFIDENCE = {1: 0.85, 2: 0.7, 3: 0.5}


def lines_below(doc: Document, line: Line, max_lines: int) -> Iterator[Line]:
    page = doc.pages[line.page]
    h = line.height
    limit = line.bottom + (max_lines + 0.5) * 2.2 * h
    count = 0
    for other in page.lines:
        if other.top <= line.top + 0.3 * h:
            continue
        if other.top > limit or count >= max_lines:
            return
        count += 1
        yield other


def below_candidates(seg: Segment, below: Line, page_width: float) -> list[Segment]:
    h = seg.height
    overlapping = [s for s in below.segments if s.overlaps_x(seg, slack=0.3 * h)]
    if overlapping:
        return overlapping[:1]
    # right-aligned values in a label box: first segment starting right of the label start
    shifted = [s for s in below.segments if seg.x0 - h <= s.x0 <= seg.x1 + 0.3 * page_width]
    return shifted[:1]


def find_labeled(
    doc: Document,
    specs: dict[str, int],
    parse: Callable[[str], Any],
    *,
    exclude: re.Pattern[str] | None = None,
    exclude_scope: str = "prefix",
    override: re.Pattern[str] | None = None,
    right: bool = True,
    below: int = 2,
    column: bool = False,
    anchored: bool = False,
    max_tier: int = 3,
) -> list[Cand]:
    """Find ``label -> value`` pairs in the document.

    ``parse(text)`` returns the value or None. ``exclude`` rejects a label when it matches the
    text before/including the label (``exclude_scope="prefix"``) or the whole segment
    (``"segment"``), unless ``override`` matches. ``below``: how many lines to look down.
    ``column``: for header-style labels read the whole column below and keep the last value.
    ``anchored``: the label must start its segment.
    """
    compiled = sorted(L.compile_labels(specs), key=lambda t: t[0])
    out: list[Cand] = []
    for line in doc.lines:
        for si, seg in enumerate(line.segments):
            for tier, rx in compiled:
                if tier > max_tier:
                    continue
                m = rx.search(seg.text)
                if not m:
                    continue
                if anchored and seg.text[: m.start()].strip(" *•-"):
                    continue
                scope = seg.text[: m.end()] if exclude_scope == "prefix" else seg.text
                if exclude and exclude.search(scope) and not (override and override.search(scope)):
                    break
                cand = _value_for(doc, line, si, seg, m, tier, parse, right, below, column)
                if cand is not None:
                    out.append(cand)
                break
    return out


def _value_for(doc, line, si, seg, m, tier, parse, right, below, column) -> Cand | None:
    rest = seg.text[m.end() :]
    if re.search(r"\d", rest):
        # the value is in the same segment, possibly after a qualifier: "Summe inkl. USt: 5,00"
        tries = [rest]
        if ":" in rest:
            tries.append(rest.rsplit(":", 1)[1])
        for t in tries:
            value = parse(t)
            if value is not None:
                return Cand(value, tier, "same", seg, seg)
        return None
    if right:
        for rseg in line.segments[si + 1 :]:
            value = parse(rseg.text)
            if value is not None:
                return Cand(value, tier, "right", seg, rseg)
            if not FILLER.match(rseg.text):
                break
    if below:
        page = doc.pages[line.page]
        found: list[Cand] = []
        for bl in lines_below(doc, line, 8 if column else below):
            segs = below_candidates(seg, bl, page.width)
            if not segs:
                continue
            value = parse(segs[0].text)
            if value is None:
                if column and found:
                    break
                if column:
                    continue
                return None
            found.append(Cand(value, tier, "column" if column else "below", seg, segs[0]))
            if not column:
                break
        if found:
            return found[-1]
    return None


# --- value parsers --------------------------------------------------------------------------

_ID_PREFIX = re.compile(r"^[\s:#.\-–|]*(?:(?:no|nr|n°|nº|number|nummer)\b\.?)?[\s:#.|]*", re.I)


def parse_invoice_number(text: str) -> str | None:
    t = _ID_PREFIX.sub("", text.strip())
    if not t:
        return None
    token = t.split()[0].strip(",;:()[]")
    if len(token) < 3 or len(token) > 40 or not re.search(r"\d", token):
        return None
    if looks_like_date(token) and not re.search(r"[A-Za-z_]", token):
        return None
    if re.fullmatch(r"[\d.,]+", token) and re.search(r"[.,]\d{2}$", token):
        return None  # an amount
    if re.fullmatch(r"\d{1,2}/\d{1,2}", token):
        return None  # "page 1/1"
    return token


def date_parser(order: str) -> Callable[[str], date | None]:
    def parse(text: str) -> date | None:
        t = text.strip(" :|.,-")
        found = find_dates(t, order)
        if found and found[0].start <= 3:
            return found[0].value
        return None

    return parse


def money_parser(require_decimals: bool = True) -> Callable[[str], AmountMatch | None]:
    def parse(text: str) -> AmountMatch | None:
        m = parse_money_value(text)
        if m is None:
            return None
        if require_decimals and not m.has_decimals and m.currency is None:
            return None
        return m

    return parse


def clean_name(text: str) -> str | None:
    """Return a plausible party name from a text snippet, or None."""
    t = re.sub(r"^(?:name|firma|company|raison sociale)\s*:\s*", "", text.strip(), flags=re.I)
    t = t.strip(" ,;:-–|*•●#")
    if len(t) < 2 or len(t) > 80 or re.search(r"[_#]", t):
        return None
    letters = sum(c.isalpha() for c in t)
    if letters < 2 or letters < 0.5 * len(t.replace(" ", "")):
        return None
    # "S.Com." (a Spanish sociedad comanditaria) is a legal form, not a web address
    if L.PARTY_NOISE.match(t) or re.search(r"@|www\.|https?:|(?<!\b[A-Z])\.com\b", t, re.I):
        return None
    if L.DOCUMENT_TITLES.match(t) and len(t) < 30:
        return None
    if looks_like_date(t):
        return None
    return t


# --- field extractors -----------------------------------------------------------------------


def best_candidate(cands: list[Cand], *, bottom: bool = False) -> Cand | None:
    if not cands:
        return None
    tier = min(c.tier for c in cands)
    same = [c for c in cands if c.tier == tier]
    if bottom:
        return max(same, key=lambda c: c.pos)
    return min(same, key=lambda c: c.pos)


def make_field(value: Any, conf: float, source: str) -> ExtractedField:
    return ExtractedField(value=value, confidence=round(min(max(conf, 0.0), 1.0), 3), source=source)


def is_credit_note(doc: Document) -> bool:
    """True when the top of page 1 carries a credit-note title (``labels.CREDIT_NOTE_TITLE``):
    its total and amount due are then reported as positive magnitudes, whatever sign is
    printed. A corrected invoice ("Rechnungskorrektur") is not a credit note and keeps its
    sign."""
    if not doc.pages:
        return False
    page = doc.pages[0]
    for line in page.lines:
        if line.top > 0.4 * page.height:
            break
        if any(L.CREDIT_NOTE_TITLE.match(seg.text) for seg in line.segments):
            return True
    return False


def document_kind(doc: Document) -> str:
    """``"credit_note"``, ``"receipt"`` or ``"invoice"`` from the layout: a credit-note title
    at the top of page 1; a receipt title there (``labels.RECEIPT_TITLE``: "Sales Receipt",
    "Kassenbon", "RESIT", "SIMPLIFIED TAX INVOICE") or a till's change line under the
    amounts (``labels.TILL_CHANGE``); else an invoice."""
    if is_credit_note(doc):
        return "credit_note"
    if not doc.pages:
        return "invoice"
    page = doc.pages[0]
    for line in page.lines:
        if line.top > 0.4 * page.height:
            break
        if any(L.RECEIPT_TITLE.match(seg.text) for seg in line.segments):
            return "receipt"
    for line in doc.lines:
        first = line.segments[0].text if line.segments else ""
        if L.TILL_CHANGE.match(first) and find_amounts(line.text):
            return "receipt"
    return "invoice"


def credit_magnitude(value: Any, credit_note: bool) -> Any:
    """``abs(value)`` for an amount of a credit note, else ``value`` unchanged."""
    if credit_note and value is not None and hasattr(value, "copy_abs"):
        return value.copy_abs()
    return value


def doc_date_order(doc: Document) -> str:
    """'MDY' when the document looks US (dollar amounts, no euro/pound), else 'DMY'."""
    text = doc.text
    if "$" in text and not re.search(r"€|EUR\b|£|GBP\b|₹|\bRs\b", text):
        return "MDY"
    if re.search(r"\b(?:F?EIN)\b\s*[:#]?\s*\d{2}-\d{7}\b", text) and not re.search(r"€|£|₹", text):
        return "MDY"  # a US employer id: the issuer is American
    if re.search(r"\b(?:USD|U\.S\.A?|United States)\b", text) and "€" not in text:
        return "MDY"
    return "DMY"
