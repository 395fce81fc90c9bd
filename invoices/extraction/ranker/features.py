"""Candidates and their features for the learned ranker (pure, no model).

For each ranked field every plausible value on the page is a candidate: every amount for the
totals, every date (both day/month orders when the digits allow) for the dates, every
number-like token for the invoice number. The rules' own pick is marked among them.
Each candidate gets a feature vector (:data:`FEATURES`):

- its label: the words to its left on the line (or in the same segment), else the words
  above it (column layouts), as multi-hot label classes, with distance and direction;
- the page zone (relative x/y, last page) and font size (height / the page's median);
- the token shape (digits, decimals, currency mark, sign, length);
- the line arithmetic: net + tax = total, total - paid = due, largest amount, repeats;
- country priors: the date order expected from the currency/country, ambiguity.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from statistics import median

from ..candidates import doc_date_order
from ..layout import Document, Line, Segment
from ..parsing import find_amounts, find_dates, looks_like_date

RANKED_FIELDS = ("total_amount", "amount_due", "issue_date", "due_date", "invoice_number")

LABEL_CLASSES: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.I)
    for name, pattern in {
        "total": r"total|gesamt|summe|brutto|\bttc\b|totale|importe|totaal|jumlah|grand|"
        r"rechnungsbetrag|factuurbedrag|montant|amount",
        "subtotal": r"sub ?-?total|zwischensumme|netto|\bnet\b|\bht\b|imponibile|base imp|"
        r"subtotaal|excl",
        "tax": r"\btax|vat\b|mwst|\bust\b|\btva\b|\biva\b|\bbtw\b|\bgst\b|\bsst\b|igst|cgst|"
        r"imposta",
        "due": r"\bdue\b|payable|please pay|zahlbetrag|offen|zu zahlen|à payer|reste|pagare|"
        r"a pagar|pendiente|te betalen|openstaand|\bbaki\b|balance",
        "paid": r"deposit|paid|advance|anzahlung|bezahlt|acompte|réglé|acconto|pagato|anticipo|"
        r"pagado|aanbetaling|betaald|payment",
        "change": r"change|rückgeld|zurück|rendu|resto|cambio|wisselgeld",
        "cash": r"cash|\bbar\b|gegeben|espèces|contanti|efectivo|contant|tunai|tendered",
        "issue": r"invoice date|rechnungsdatum|date de facture|data documento|fecha|"
        r"factuurdatum|tarikh|\bdate\b|\bdatum\b|\bdata\b|issued|émise|dated",
        "due_date": r"due|fällig|zahlbar|échéance|scadenza|vencimiento|vervaldatum|"
        r"te betalen voor|payment due|pay by|à payer avant",
        "other_date": r"deliver|liefer|livraison|consegna|entrega|levering|period|zeitraum|"
        r"order|bestell|commande|ordine|pedido|ship|service|leistung",
        "number": r"invoice|rechnung|facture|fattura|factura|factuur|invois|\bno\b|\bnr\b|"
        r"n°|nº|number|nummer|numéro|numero|número|#",
        "credit": r"credit|gutschrift|korrektur|avoir|nota di credito|rectificativa|abono|"
        r"creditnota",
        "reference": r"ref|original|against|bezug|zu rechnung|d'origine|rectificada|betreft",
        "customer": r"customer|kunde|client|cliente|klant|account|konto|po\b|order|bestell",
        "receipt": r"receipt|bon|ticket|beleg|scontrino|resit|bill no|trans",
        "page": r"page|seite|pagina|página",
        "phone": r"tel|phone|fax|mobile|iban|bic|swift|account",
    }.items()
}
_CURRENCY_MARK = re.compile(r"[€$£₹¥]|\b(?:EUR|USD|GBP|INR|MYR|RM|Rs\.?|Euro)\b")
_NUMBER_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9/\-_.]{2,39}")


@dataclass(frozen=True)
class Candidate:
    """One possible value of a field, where it was read, and its features."""

    field: str
    value: object
    features: tuple[float, ...]


def _label_features(prefix: str) -> list[float]:
    return [1.0 if rx.search(prefix) else 0.0 for rx in LABEL_CLASSES.values()]


def _left_text(line: Line, seg: Segment, start: int) -> tuple[str, float]:
    """Text to the left of a value: the same segment before it, else the nearest segment to
    its left on the line; and the horizontal gap (points) between that text and the value."""
    before = seg.text[:start].strip()
    if re.search(r"[^\W\d_]{2}", before):
        return before, 0.0
    left = [s for s in line.segments if s.x1 <= seg.x0 + 1 and s is not seg]
    for other in reversed(left):
        if re.search(r"[^\W\d_]{2}", other.text):
            return other.text, seg.x0 - other.x1
    return "", -1.0


def _above_text(doc: Document, line: Line, seg: Segment) -> str:
    """The text right above a value (a header over a column), within two lines."""
    lines = doc.pages[line.page].lines
    idx = next((i for i, candidate in enumerate(lines) if candidate is line), None)
    if idx is None:
        return ""
    for other in reversed(lines[max(0, idx - 2) : idx]):
        for s in other.segments:
            if s.overlaps_x(seg, slack=2.0) and re.search(r"[^\W\d_]{2}", s.text):
                return s.text
    return ""


class _Context:
    """Per-document facts shared by every candidate's features."""

    def __init__(self, doc: Document, rules: dict) -> None:
        self.doc = doc
        self.rules = rules
        heights = [s.height for line in doc.lines for s in line.segments] or [1.0]
        self.median_height = median(heights) or 1.0
        self.order = doc_date_order(doc)
        self.last_page = max((line.page for line in doc.lines), default=0)
        self.amounts: list[Decimal] = []
        self.dates: list[date] = []
        for line in doc.lines:
            for seg in line.segments:
                for m in find_amounts(seg.text):
                    if m.has_decimals or m.currency:
                        self.amounts.append(abs(m.value))
                for dm in find_dates(seg.text, self.order):
                    self.dates.append(dm.value)
        self.distinct = sorted(set(self.amounts), reverse=True)
        self.amount_set = set(self.amounts)

    def position(self, line: Line, seg: Segment) -> list[float]:
        page = self.doc.pages[line.page]
        return [
            seg.top / max(page.height, 1.0),
            seg.x1 / max(page.width, 1.0),
            seg.x0 / max(page.width, 1.0),
            1.0 if line.page == self.last_page else 0.0,
            float(line.page),
            seg.height / self.median_height,
            seg.conf,
        ]

    def label(self, line: Line, seg: Segment, start: int) -> list[float]:
        left, gap = _left_text(line, seg, start)
        above = _above_text(self.doc, line, seg) if not left else ""
        page_width = max(self.doc.pages[line.page].width, 1.0)
        return [
            *_label_features(left),
            *_label_features(above),
            1.0 if left else 0.0,
            1.0 if above else 0.0,
            gap / page_width if gap >= 0 else -1.0,
            min(len(left), 60) / 60.0,
        ]


def _amount_features(ctx: _Context, value: Decimal, negative: bool, currency: bool) -> list:
    others = [a for a in ctx.distinct if a != value]
    is_sum = any(value - a in ctx.amount_set and value - a != a and a < value for a in others)
    is_due = any((a - value) in ctx.amount_set and a > value for a in others)
    rank = ctx.distinct.index(value) if value in ctx.distinct else len(ctx.distinct)
    rules_total = ctx.rules.get("total_amount")
    rules_due = ctx.rules.get("amount_due")
    return [
        math.log10(float(value) + 1.0),
        rank / max(len(ctx.distinct), 1),
        1.0 if rank == 0 else 0.0,
        1.0 if rank == 1 else 0.0,
        float(ctx.amounts.count(value)),
        1.0 if is_sum else 0.0,
        1.0 if is_due else 0.0,
        1.0 if negative else 0.0,
        1.0 if currency else 0.0,
        1.0 if rules_total is not None and abs(rules_total) == value else 0.0,
        1.0 if rules_due is not None and abs(rules_due) == value else 0.0,
        1.0 if value == value.to_integral_value() else 0.0,
    ]


def _date_features(ctx: _Context, value: date, ambiguous: bool, order: str) -> list:
    dates = sorted(set(ctx.dates)) or [value]
    first, last = dates[0], dates[-1]
    rank = dates.index(value) if value in dates else 0
    return [
        rank / max(len(dates), 1),
        1.0 if value == first else 0.0,
        1.0 if value == last else 0.0,
        (value - first).days / 365.0,
        (last - value).days / 365.0,
        float(ctx.dates.count(value)),
        1.0 if ambiguous else 0.0,
        1.0 if order == ctx.order else 0.0,
        1.0 if ctx.rules.get("issue_date") == value else 0.0,
        1.0 if ctx.rules.get("due_date") == value else 0.0,
        float(len(dates)),
    ]


def _number_features(ctx: _Context, token: str) -> list:
    digits = sum(c.isdigit() for c in token)
    return [
        float(len(token)),
        digits / len(token),
        1.0 if re.search(r"[A-Za-z]", token) else 0.0,
        1.0 if re.search(r"[/\-_.]", token) else 0.0,
        1.0 if token.isdigit() else 0.0,
        float(sum(token in s.text for line in ctx.doc.lines for s in line.segments)),
        1.0 if ctx.rules.get("invoice_number") == token else 0.0,
    ]


def document_candidates(doc: Document, rules: dict) -> dict[str, list[Candidate]]:
    """Every candidate of each field in :data:`RANKED_FIELDS`, with features. ``rules``: the
    rules' values by field name (their picks are marked in the features)."""
    ctx = _Context(doc, rules)
    out: dict[str, list[Candidate]] = {name: [] for name in RANKED_FIELDS}
    seen: dict[str, set] = {name: set() for name in RANKED_FIELDS}
    alternative = "MDY" if ctx.order == "DMY" else "DMY"
    for line in doc.lines:
        for seg in line.segments:
            base = ctx.position(line, seg)
            for m in find_amounts(seg.text):
                if not (m.has_decimals or m.currency):
                    continue
                value = abs(m.value)
                shape = _amount_features(
                    ctx,
                    value,
                    m.value < 0,
                    bool(m.currency) or bool(_CURRENCY_MARK.search(seg.text)),
                )
                feats = tuple(base + ctx.label(line, seg, m.start) + shape)
                for name in ("total_amount", "amount_due"):
                    out[name].append(Candidate(name, value, feats))
                    seen[name].add(value)
            for order in (ctx.order, alternative):
                found = find_dates(seg.text, order)
                bounds = period_bounds(seg.text, found)
                for dm in found:
                    if order != ctx.order and not dm.ambiguous:
                        continue
                    if dm.start in bounds:
                        continue  # "01.05.14-31.05.14": a service period, not a document date
                    feats = tuple(
                        base
                        + ctx.label(line, seg, dm.start)
                        + _date_features(ctx, dm.value, dm.ambiguous, order)
                    )
                    for name in ("issue_date", "due_date"):
                        out[name].append(Candidate(name, dm.value, feats))
                        seen[name].add(dm.value)
            for tm in _NUMBER_TOKEN.finditer(seg.text):
                token = tm.group(0).strip(".-/_")
                if len(token) < 3 or not re.search(r"\d", token) or looks_like_date(token):
                    continue
                if re.fullmatch(r"[\d.,]+", token) and re.search(r"[.,]\d{2}$", token):
                    continue  # an amount
                feats = tuple(
                    base + ctx.label(line, seg, tm.start()) + _number_features(ctx, token)
                )
                out["invoice_number"].append(Candidate("invoice_number", token, feats))
    return out


_DASH_DIGIT_AFTER = re.compile(r"\s*[-\u2013]\s*\d")
_DASH_DIGIT_BEFORE = re.compile(r"\d\s*[-\u2013]\s*$")
_PERIOD_JOIN = re.compile(r"\s*(?:[-\u2013\u2014]|bis|to|au|al|tot)\s*", re.I)


def period_bounds(text: str, dates: list) -> set[int]:
    """Start offsets of the dates in ``text`` that open or close a period ("01.05.14-31.05.14",
    "1 May to 31 May 2024"): such dates say when a service ran, not when the document was
    issued or is due, and are no candidates for either."""
    bounds: set[int] = set()
    ordered = sorted(dates, key=lambda d: d.start)
    for first, second in zip(ordered, ordered[1:], strict=False):
        if _PERIOD_JOIN.fullmatch(text[first.end : second.start]):
            bounds.update((first.start, second.start))
    for d in ordered:  # a dash to or from more digits: the other end was not parsed as a date
        if _DASH_DIGIT_AFTER.match(text, d.end) or _DASH_DIGIT_BEFORE.search(text[: d.start]):
            bounds.add(d.start)
    return bounds


def feature_count(field: str) -> int:
    """Length of a field's feature vector (constant per field)."""
    base = 7 + 2 * len(LABEL_CLASSES) + 4
    extra = {
        "total_amount": 12,
        "amount_due": 12,
        "issue_date": 11,
        "due_date": 11,
        "invoice_number": 7,
    }
    return base + extra[field]


#: Identifies the feature layout (cached training rows are only reused under the same key).
FEATURES_KEY = (
    "v4:"
    + ",".join(LABEL_CLASSES)
    + ":"
    + ",".join(f"{name}={feature_count(name)}" for name in RANKED_FIELDS)
)
