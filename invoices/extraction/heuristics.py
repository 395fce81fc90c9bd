"""Field extraction from a laid-out page (text layer or OCR) with general rules.

Rules are issuer-agnostic: a label (multilingual dictionary in :mod:`labels`) is searched in
every text segment, and its value is taken from the rest of the segment, the next segment to
the right on the same line, or the segment below it (column layouts). Candidates are ranked by
label tier and position (numbers/dates: top first; totals: bottom first). Confidences are
heuristic: ~0.85 for a specific label, lower for generic labels and fallbacks.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from . import labels as L
from .candidates import (
    ADDRESS,
    SENDER_SPLIT,
    TIER_CONFIDENCE,
    Cand,
    best_candidate,
    clean_name,
    credit_magnitude,
    date_parser,
    doc_date_order,
    document_kind,
    find_labeled,
    is_credit_note,
    lines_below,
    make_field,
    money_parser,
    parse_invoice_number,
)
from .layout import Document, Line, Segment
from .parsing import (
    ISO_CODES,
    WORD_CURRENCIES,
    AmountMatch,
    currency_from_token,
    find_amounts,
    find_dates,
)
from .schema import FIELD_NAMES, RECEIPT_ABSENT_FIELDS, ExtractedField
from .taxids import NATIONAL_TAX_ID_KINDS, TaxIdMatch, find_tax_ids

#: Country prefixes of VAT numbers whose country's currency is the euro.
EURO_VAT_PREFIXES = frozenset(
    ["AT", "BE", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "EL", "HR", "IE", "IT", "LT",
     "LU", "LV", "MT", "NL", "PT", "SI", "SK"]
)


def currency_of_tax_id(tax_id: str) -> str | None:
    """The currency of the country a tax id belongs to, when its form says it: an EU VAT
    number of a euro country -> EUR, GB VAT -> GBP, a 15-character GSTIN -> INR, a US EIN
    (NN-NNNNNNN) -> USD, a Malaysian SST registration (W10-NNNN-NNNNNNNN) -> MYR; else None.
    Only called with a tax id found under a tax label."""
    t = re.sub(r"[^0-9A-Za-z]", "", tax_id).upper()
    if re.fullmatch(r"\d{2}[A-Z]{5}\d{4}[A-Z][0-9A-Z]Z[0-9A-Z]", t):
        return "INR"
    prefix = t[:2]
    if prefix in EURO_VAT_PREFIXES and t[2:3].isalnum() and any(c.isdigit() for c in t[2:]):
        return "EUR"
    if prefix == "GB" and t[2:].isdigit():
        return "GBP"
    if re.fullmatch(r"\d{2}-\d{7}", tax_id.strip()):
        return "USD"  # a US employer id (EIN)
    if re.fullmatch(r"[A-Z]\d{2}-\d{4}-\d{8}", tax_id.strip()):
        return "MYR"  # a Malaysian SST registration
    return None


class FieldExtractor:
    """Runs every field rule over one :class:`Document`."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.source = doc.source
        self.order = doc_date_order(doc)
        self.penalty = 0.8 if doc.source == "ocr" else 1.0
        self.warnings: list[str] = []

    def conf(self, base: float, seg: Segment | None = None) -> float:
        c = base * self.penalty
        if seg is not None and self.source == "ocr":
            c *= 0.7 + 0.3 * seg.conf
        return c

    def extract(self) -> dict[str, ExtractedField]:
        out: dict[str, ExtractedField] = {
            n: ExtractedField.missing(self.source) for n in FIELD_NAMES
        }
        number = self.invoice_number()
        if number:
            out["invoice_number"] = make_field(
                number.value, self.conf(TIER_CONFIDENCE[number.tier], number.at), self.source
            )
        issue = self.issue_date()
        if issue:
            out["issue_date"] = issue
        total, due = self.amounts()
        if total:
            out["total_amount"] = total[0]
        if due:
            out["amount_due"] = due[0]
        out["currency"] = self.currency(total[1] if total else None, due[1] if due else None)
        out["due_date"] = self.due_date(out["issue_date"].value)
        issuer_tax, buyer_tax = self.tax_ids()
        if issuer_tax:
            out["issuer_tax_id"] = issuer_tax
        if buyer_tax:
            out["buyer_tax_id"] = buyer_tax
        if out["currency"].value is None and issuer_tax is not None:
            # Nothing printed says the currency: the issuer's tax id says its country.
            code = currency_of_tax_id(str(issuer_tax.value))
            if code:
                out["currency"] = make_field(code, self.conf(0.5), self.source)
        issuer, buyer = self.parties()
        if issuer:
            out["issuer_name"] = issuer
        if buyer:
            out["buyer_name"] = buyer
        requested = self._payment_requested() or out["due_date"].value is not None
        if due is None and total and requested:
            value = total[0].value
            out["amount_due"] = make_field(value, min(0.4, total[0].confidence), self.source)
        if is_credit_note(self.doc):
            for name in ("total_amount", "amount_due"):
                got = out[name]
                out[name] = replace(got, value=credit_magnitude(got.value, True))
        return out

    # invoice number
    def invoice_number(self) -> Cand | None:
        cands = find_labeled(
            self.doc,
            L.INVOICE_NUMBER,
            parse_invoice_number,
            exclude=L.INVOICE_NUMBER_EXCLUDE,
            max_tier=2,
        )
        best = best_candidate(cands)
        if best:
            return best
        # weak labels: a document title or '#' directly followed (or underlined) by the number
        weak = []
        for c in find_labeled(
            self.doc, L.INVOICE_NUMBER, parse_invoice_number, right=True, below=1
        ):
            if c.tier != 3:
                continue
            if (
                c.how == "below"
                and not L.DOCUMENT_TITLES.match(c.label.text)
                and c.label.text.strip() != "#"
            ):
                continue
            if c.how == "below" and len(c.label.text.split()) > 2:
                continue
            weak.append(c)
        return best_candidate(weak)

    # dates
    def issue_date(self) -> ExtractedField | None:
        parse = date_parser(self.order)
        cands = find_labeled(self.doc, L.ISSUE_DATE, parse, exclude=L.ISSUE_DATE_EXCLUDE, below=2)
        # "<Invoice> Nr. 4711 vom 05.03.2018" / "Invoice # X issued at 2020-11-21"
        for line in self.doc.lines:
            for seg in line.segments:
                for _, rx in L.compile_labels(L.INVOICE_NUMBER):
                    m = rx.search(seg.text)
                    if not m:
                        continue
                    tail = seg.text[m.end() :]
                    dm = re.search(
                        r"\b(?:vom|du|dated|of|from|van|issued(?: at| on)?)\b", tail, re.I
                    )
                    if dm:
                        found = find_dates(tail[dm.end() :], self.order)
                        if found and found[0].start <= 3:
                            cands.append(Cand(found[0].value, 1, "same", seg, seg))
                    break
        best = best_candidate(cands)
        if best:
            return make_field(
                best.value, self.conf(TIER_CONFIDENCE[best.tier], best.at), self.source
            )
        # fallback: first date in the top part of page 1 outside excluded contexts
        page = self.doc.pages[0] if self.doc.pages else None
        if page:
            for line in page.lines:
                if line.top > 0.45 * page.height:
                    break
                for seg in line.segments:
                    if L.ISSUE_DATE_EXCLUDE.search(seg.text):
                        continue
                    found = find_dates(seg.text, self.order)
                    if found:
                        return make_field(found[0].value, self.conf(0.4, seg), self.source)
        return None

    def due_date(self, issue: date | None) -> ExtractedField:
        parse = date_parser(self.order)
        cands = find_labeled(self.doc, L.DUE_DATE, parse, exclude=L.DUE_DATE_EXCLUDE, below=2)
        cands = [c for c in cands if issue is None or c.value >= issue]
        best = best_candidate(cands)
        if best:
            return make_field(
                best.value, self.conf(TIER_CONFIDENCE[best.tier] - 0.05, best.at), self.source
            )
        if issue is not None:
            for line in self.doc.lines:
                for clause in re.split(r"[,;]", line.text):
                    if L.DUE_DATE_EXCLUDE.search(clause) or "%" in clause:
                        continue
                    m = L.PAYMENT_TERMS_DAYS.search(clause)
                    if m:
                        days = int(next(g for g in m.groups() if g))
                        if 0 < days <= 180:
                            return make_field(
                                issue + timedelta(days=days), self.conf(0.55), self.source
                            )
        return ExtractedField.missing(self.source)

    # amounts
    def amounts(self):
        money = money_parser()
        totals = find_labeled(
            self.doc,
            L.TOTAL,
            money,
            exclude=L.TOTAL_EXCLUDE,
            exclude_scope="segment",
            override=L.TOTAL_INCLUDE_OVERRIDE,
            column=False,
        )
        # header-style labels ("Endbetrag" above a column of amounts): keep the last row
        column_totals = find_labeled(
            self.doc,
            L.TOTAL,
            money,
            exclude=L.TOTAL_EXCLUDE,
            exclude_scope="segment",
            override=L.TOTAL_INCLUDE_OVERRIDE,
            right=False,
            column=True,
        )
        by_label = {id(c.label): c for c in totals}
        for c in column_totals:
            if c.tier >= 2 and self._is_table_header(c.label):
                c.tier = 3  # "Total" over line items: the last row is an item, not the total
            prev = by_label.get(id(c.label))
            if prev is None:
                totals.append(c)
            elif prev.how == "below" and c.at is not prev.at:
                totals[totals.index(prev)] = c
        dues = find_labeled(self.doc, L.AMOUNT_DUE, money, exclude=L.AMOUNT_DUE_EXCLUDE)
        total = best_candidate([c for c in totals if c.tier <= 2], bottom=True)
        due = best_candidate(dues, bottom=True)
        out_total = out_due = None
        if total:
            conf = TIER_CONFIDENCE[total.tier] + (0.05 if total.tier == 1 else 0.0)
            out_total = (
                make_field(total.value.value, self.conf(conf, total.at), self.source),
                total.value,
            )
        elif due:
            out_total = (
                make_field(due.value.value, self.conf(0.5, due.at), self.source),
                due.value,
            )
        else:
            weak = best_candidate(totals, bottom=True)
            if weak:
                out_total = (
                    make_field(weak.value.value, self.conf(0.35, weak.at), self.source),
                    weak.value,
                )
        if due:
            out_due = (
                make_field(
                    due.value.value, self.conf(TIER_CONFIDENCE[due.tier], due.at), self.source
                ),
                due.value,
            )
        return out_total, out_due

    def _is_table_header(self, seg: Segment) -> bool:
        line = self.doc.lines[seg.line_no]
        headers = [s for s in line.segments if not re.search(r"\d", s.text)]
        return len(headers) >= 3

    def _payment_requested(self) -> bool:
        text = self.doc.text
        return bool(L.PAYMENT_REQUEST.search(text)) and not L.PAID_HINT.search(text)

    # currency
    def currency(self, total: AmountMatch | None, due: AmountMatch | None) -> ExtractedField:
        def parse_code(text: str) -> str | None:
            t = text.strip(" :|")
            m = re.match(r"([A-Z]{3})\b", t)
            if m and m.group(1) in ISO_CODES:
                return m.group(1)
            return currency_from_token(t[:1]) if t else None

        best = best_candidate(find_labeled(self.doc, L.CURRENCY, parse_code, below=2))
        if best:
            return make_field(best.value, self.conf(0.9, best.at), self.source)
        for m in (total, due):
            if m is not None and m.currency and self._trusted_mark(m.currency):
                return make_field(
                    m.currency, self.conf(0.8 if m.currency != "USD" else 0.7), self.source
                )
        counts: Counter[str] = Counter()
        text = self.doc.text
        for am in find_amounts(text):
            if am.currency and am.has_decimals and self._trusted_mark(am.currency):
                counts[am.currency] += 1
        for code in re.findall(r"\b[A-Z]{3}\b", text):
            if code in ISO_CODES:
                counts[code] += 1
        for rx, code in WORD_CURRENCIES:
            if rx.search(text):
                counts[code] += 2
        if "₹" in text:
            counts["INR"] += 1
        if counts:
            code, _ = counts.most_common(1)[0]
            return make_field(code, self.conf(0.6), self.source)
        return ExtractedField.missing(self.source)

    def _trusted_mark(self, code: str) -> bool:
        """False for a yen read from OCR noise: in an OCR'd page a lone "¥" is usually a
        misread "Y", "V" or "%" (the issue's receipts from Malaysia came out as JPY). A yen
        counts there only with a corroborating word ("JPY", "円", "yen") or at least three
        "¥" marks. Text layers print what they mean and are trusted."""
        if code != "JPY" or self.source != "ocr":
            return True
        text = self.doc.text
        return bool(re.search(r"\bJPY\b|円|\byen\b", text, re.I)) or text.count("¥") >= 3

    # tax ids
    def tax_ids(self) -> tuple[ExtractedField | None, ExtractedField | None]:
        matches = find_tax_ids(self.doc)
        issuer = [m for m in matches if m.role == "issuer"]
        buyer = [m for m in matches if m.role == "buyer"]

        def pick(ms: list[TaxIdMatch]) -> ExtractedField | None:
            if not ms:
                return None
            counts = Counter(m.value for m in ms)
            # an international VAT/GST number before a national one (SIREN, Steuernummer)
            best = max(
                ms,
                key=lambda m: (
                    m.kind not in NATIONAL_TAX_ID_KINDS,
                    m.valid,
                    m.labelled,
                    counts[m.value],
                    -m.order,
                ),
            )
            conf = 0.6 + (0.2 if best.valid else 0.0) + (0.1 if best.labelled else 0.0)
            return make_field(best.value, self.conf(conf, best.segment), self.source)

        issuer_field = pick(issuer)
        buyer_field = pick([m for m in buyer if not issuer_field or m.value != issuer_field.value])
        return issuer_field, buyer_field

    # parties
    def _party_label_value(self, specs: dict[str, int]) -> Cand | None:
        def parse(text: str) -> str | None:
            return clean_name(text)

        cands: list[Cand] = []
        compiled = sorted(L.compile_labels(specs), key=lambda t: t[0])
        for line in self.doc.lines:
            for si, seg in enumerate(line.segments):
                for tier, rx in compiled:
                    m = rx.search(seg.text)
                    if not m or seg.text[: m.start()].strip(" *•-"):
                        continue
                    rest = seg.text[m.end() :]
                    multiword = " " in m.group(0).strip()
                    if not (
                        re.match(r"\s*[:/]", rest) or not rest.strip() or (multiword and tier == 1)
                    ):
                        continue
                    if rest.strip(" :/"):
                        if re.match(r"\s*[/(]", rest):
                            rest = re.sub(r"^\s*[/(][^\s:)]*\)?", "", rest)
                        value = parse(rest)
                        if value:
                            cands.append(Cand(value, tier, "same", seg, seg))
                        if value or rest.strip(" :").strip():
                            break
                    value = self._name_below(line, si, seg, parse)
                    if value:
                        cands.append(Cand(value[0], tier, "below", seg, value[1]))
                    break
        return best_candidate(cands)

    def _name_below(self, line: Line, si: int, seg: Segment, parse) -> tuple[str, Segment] | None:
        if si + 1 < len(line.segments):
            nxt = line.segments[si + 1]
            if nxt.x0 - seg.x1 < 6 * seg.height and not re.search(r":\s*$", nxt.text):
                value = parse(nxt.text)
                if value and seg.text.rstrip().endswith(":"):
                    return value, nxt
        page = self.doc.pages[line.page]
        for bl in lines_below(self.doc, line, 5):
            segs = [s for s in bl.segments if s.overlaps_x(seg, slack=0.5 * seg.height)]
            if not segs:
                continue
            s = segs[0]
            if re.fullmatch(r"\s*(?:name|firma)\s*:?\s*", s.text, re.I):
                idx = bl.segments.index(s)
                if idx + 1 < len(bl.segments):
                    value = parse(bl.segments[idx + 1].text)
                    if value:
                        return value, bl.segments[idx + 1]
                continue
            if L.PARTY_NOISE.match(s.text.strip()) or not parse(s.text):
                continue
            if s.x0 > seg.x1 + 0.2 * page.width:
                continue
            return parse(s.text), s
        return None

    def _sender_line(self) -> Segment | None:
        if not self.doc.pages:
            return None
        page = self.doc.pages[0]
        for line_index, line in enumerate(page.lines):
            if line.top > 0.4 * page.height:
                break
            # chain segments separated by moderate gaps ("Name  ●  Street 1  ●  12345 Town")
            chains: list[list[Segment]] = []
            for seg in line.segments:
                if chains and seg.x0 - chains[-1][-1].x1 < 4 * seg.height:
                    chains[-1].append(seg)
                else:
                    chains.append([seg])
            for chain in chains:
                text = " ".join(s.text for s in chain)
                parts = [p for p in SENDER_SPLIT.split(text) if p.strip()]
                if len(parts) >= 3 and re.search(r"\b(?:[A-Z]{1,2}-?)?\d{4,5}\b", text):
                    words = [w for s in chain for w in s.words]
                    return Segment(words, chain[0].page, chain[0].line_no)
                # a letterhead's first line "Name · Street 12": a name, then an address
                if (
                    len(parts) == 2
                    and line_index < 3
                    and not re.search(r"\d", parts[0])
                    and (ADDRESS.search(parts[1]) or re.search(r"\d", parts[1]))
                ):
                    words = [w for s in chain for w in s.words]
                    return Segment(words, chain[0].page, chain[0].line_no)
        return None

    def parties(self) -> tuple[ExtractedField | None, ExtractedField | None]:
        issuer = buyer = None
        seller_cand = self._party_label_value(L.SELLER)
        buyer_cand = self._party_label_value(L.BUYER)
        if seller_cand:
            issuer = make_field(
                seller_cand.value,
                self.conf(0.8 if seller_cand.tier == 1 else 0.6, seller_cand.at),
                self.source,
            )
        if buyer_cand:
            buyer = make_field(
                buyer_cand.value,
                self.conf(0.75 if buyer_cand.tier == 1 else 0.55, buyer_cand.at),
                self.source,
            )
        sender = self._sender_line()
        if sender is not None:
            first = SENDER_SPLIT.split(sender.text)[0]
            name = clean_name(first)
            if issuer is None and name:
                issuer = make_field(name, self.conf(0.75, sender), self.source)
            if buyer is None:
                line = self.doc.lines[sender.line_no]
                for bl in lines_below(self.doc, line, 3):
                    segs = [s for s in bl.segments if s.overlaps_x(sender, slack=sender.height)]
                    value = clean_name(segs[0].text) if segs else None
                    if value and not L.PARTY_NOISE.match(value):
                        buyer = make_field(value, self.conf(0.6, segs[0]), self.source)
                        break
        if issuer is None:
            issuer = self._issuer_fallback(buyer.value if buyer else None)
        return issuer, buyer

    def _issuer_fallback(self, buyer_name: str | None) -> ExtractedField | None:
        doc = self.doc
        if not doc.pages:
            return None
        buyer_zone = self._buyer_zone()
        page = doc.pages[0]
        # a company name with a legal form in the letterhead
        for line in page.lines:
            if line.top > 0.3 * page.height:
                break
            for seg in line.segments:
                if seg in buyer_zone:
                    continue
                name = clean_name(_first_part(seg.text))
                if name and L.LEGAL_FORMS.search(name) and name != buyer_name:
                    return make_field(name, self.conf(0.6, seg), self.source)
        # the footer: a company name with a legal form, or the line above the legal notice
        last = doc.pages[-1]
        lines = last.lines
        for i, line in enumerate(lines):
            if line.top < 0.6 * last.height:
                continue
            if L.LEGAL_FOOTER.search(line.text) and i > 0:
                above = lines[i - 1]
                if len(above.segments) == 1:
                    name = clean_name(above.segments[0].text)
                    if name and len(name.split()) <= 5 and name != buyer_name:
                        return make_field(name, self.conf(0.5, above.segments[0]), self.source)
            for seg in line.segments:
                name = clean_name(seg.text)
                if (
                    name
                    and L.LEGAL_FORMS.search(name)
                    and len(name.split()) <= 6
                    and name != buyer_name
                ):
                    return make_field(name, self.conf(0.5, seg), self.source)
        # the first plausible line of the letterhead, preferring one that heads an address block
        plausible: list[tuple[Segment, str]] = []
        for line in page.lines[:8]:
            if not line.segments or self._is_table_header(line.segments[0]):
                continue  # "Item  Qty  Line Total": column headings, not a name
            for seg in line.segments:
                if seg in buyer_zone or self._is_label_value(seg):
                    continue
                name = clean_name(_first_part(seg.text))
                if (
                    name
                    and len(name.split()) <= 6
                    and name != buyer_name
                    and not re.search(r"\d", name)
                ):
                    plausible.append((seg, name))
        for seg, name in plausible:
            if self._heads_address(seg):
                return make_field(name, self.conf(0.4, seg), self.source)
        if plausible:
            seg, name = plausible[0]
            return make_field(name, self.conf(0.3, seg), self.source)
        return None

    def _is_label_value(self, seg: Segment) -> bool:
        """'Label: value' segments and any party/ship-to heading are not letterhead names."""
        if re.match(r"^[^:]{1,30}:", seg.text):
            return True
        return any(
            rx.match(seg.text.strip()) for _, rx in L.compile_labels({**L.BUYER, **L.SELLER})
        )

    def _heads_address(self, seg: Segment) -> bool:
        line = self.doc.lines[seg.line_no]
        for bl in lines_below(self.doc, line, 3):
            for s in bl.segments:
                if s.overlaps_x(seg, slack=seg.height) and ADDRESS.search(s.text):
                    return True
        return False

    def _buyer_zone(self) -> list[Segment]:
        """Segments under a buyer heading (same column, a few lines) - never the issuer."""
        zone: list[Segment] = []
        compiled = L.compile_labels(L.BUYER)
        for line in self.doc.lines:
            for seg in line.segments:
                if any(tier == 1 and rx.search(seg.text) for tier, rx in compiled):
                    zone.append(seg)
                    for bl in lines_below(self.doc, line, 5):
                        zone.extend(s for s in bl.segments if s.overlaps_x(seg, slack=seg.height))
        return zone


def _first_part(text: str) -> str:
    """The name of a "Name · Street 1 · Town" letterhead line: its first part."""
    parts = [p for p in SENDER_SPLIT.split(text) if p.strip()]
    return parts[0] if parts else text


def extract_fields(doc: Document) -> tuple[dict[str, ExtractedField], list[str], str]:
    """Extract all FIELD_NAMES from a laid-out document; returns (fields, warnings, kind) with
    kind ``"invoice"``, ``"credit_note"`` or ``"receipt"`` (:func:`candidates.document_kind`).
    For a receipt the issuer is the merchant, and no buyer or amount due is read."""
    ex = FieldExtractor(doc)
    fields = ex.extract()
    kind = document_kind(doc)
    if kind == "receipt":
        # paid at the till: the "buyer" and "amount due" a rule found are a cashier or the change
        for name in RECEIPT_ABSENT_FIELDS:
            fields[name] = ExtractedField.missing(doc.source)
    if all(f.value is None for f in fields.values()):
        ex.warnings.append("NO_INVOICE_FIELDS")
    return fields, ex.warnings, kind


__all__ = ["extract_fields", "clean_name", "parse_invoice_number", "Decimal"]
