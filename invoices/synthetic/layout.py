"""What a synthetic invoice says and where: parties, numbers, dates, lines, totals, laid out
by one of a few templates, with the ground truth of what was printed.

Document kinds: invoices, credit notes (printed with positive or negative amounts; the truth
is the positive total, and the credit note's own number, not the invoice it corrects),
receipts (merchant, total, cash and change; no buyer, no due date), multi-page invoices
(items run over pages, totals on the last), and invoices with a deposit (total vs amount due).
Traps seen in real documents are planted on purpose: a salutation ("Herrn") before the buyer,
"formerly" names, the title "SIMPLIFIED TAX INVOICE", subtotals above totals, change lines.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from faker import Faker

from .locales import (
    COUNTRIES,
    MY_PLACES,
    Country,
    format_day,
    format_money,
    malaysian_company,
    tax_id,
)

A4 = (595.0, 842.0)
RECEIPT_WIDTH = 227.0  # 80 mm till roll
TEMPLATES = ("classic", "boxed", "letter", "receipt")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Text:
    """One run of text: page index, x and y of its baseline in points from the top-left."""

    page: int
    x: float
    y: float
    text: str
    size: float = 9.0
    bold: bool = False
    align: str = "left"  # left | right | center (x is the anchor)


@dataclass
class SyntheticDocument:
    """A laid-out document and its ground truth (the shared ``.gt.json`` ``fields``)."""

    name: str
    group: str  # issuer template: template + country (the unit of leave-one-group-out)
    country: Country
    kind: str  # invoice | credit_note | receipt
    page_size: tuple[float, float]
    texts: list[Text] = field(default_factory=list)
    fields: dict = field(default_factory=dict)
    pages: int = 1
    #: Fields printed only on pages after the first (totals and footers that the items
    #: pushed over): a photo of the first page does not show them.
    later_page_fields: set[str] = field(default_factory=set)
    #: The VAT printed (the total less the net amount), for the structured e-invoice variant.
    tax_amount: Decimal = Decimal("0.00")

    def ground_truth(self, *, first_page_only: bool = False) -> dict:
        """The ``.gt.json`` content; ``first_page_only``: for an image of the first page
        alone, the fields it does not show are null (not scored)."""
        fields = self.fields
        if first_page_only:
            fields = {k: None if k in self.later_page_fields else v for k, v in fields.items()}
        return {
            "document": self.name,
            "gt_origin": "synthetic",
            "fields": fields,
            "notes": f"synthetic {self.kind}, template {self.group}",
            "extra": {"kind": self.kind, "country": self.country.code, "group": self.group},
        }


@cache
def _faker(locale: str) -> Faker:
    """One Faker per locale (building one takes ~50 ms); re-seeded for every document."""
    return Faker(locale)


def _money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


class _Writer:
    """Places text top-down on pages, starting a new page when one is full."""

    def __init__(self, doc: SyntheticDocument, top: float, bottom_margin: float) -> None:
        self.doc, self.y, self.top, self.bottom = doc, top, top, bottom_margin
        self.page = 0

    def put(
        self,
        x: float,
        text: str,
        size: float = 9.0,
        *,
        bold=False,
        align="left",
        dy: float | None = None,
    ) -> None:
        self.doc.texts.append(Text(self.page, x, self.y, text, size, bold, align))
        if dy is not None:
            self.y += dy

    def down(self, dy: float) -> None:
        self.y += dy
        if self.y > self.doc.page_size[1] - self.bottom:
            self.page += 1
            self.doc.pages = self.page + 1
            self.y = self.top


def _party(country: Country, fake: Faker, rng: random.Random) -> tuple[str, list[str]]:
    if country.code == "MY":
        return malaysian_company(rng), [rng.choice(MY_PLACES), "Malaysia"]
    name = fake.company()
    return name, [line for line in fake.address().splitlines() if line.strip()][:3]


def build_document(index: int, rng: random.Random) -> SyntheticDocument:
    """The ``index``-th synthetic document, entirely determined by ``rng``'s state."""
    key = rng.choice(sorted(COUNTRIES))
    country = COUNTRIES[key]
    template = rng.choice(TEMPLATES)
    kind = (
        "receipt"
        if template == "receipt"
        else ("credit_note" if rng.random() < 0.15 else "invoice")
    )
    fake = _faker(country.faker_locale)
    fake.seed_instance(rng.randrange(2**31))
    size = (RECEIPT_WIDTH, 600.0) if kind == "receipt" else A4
    doc = SyntheticDocument(f"syn-{index:05d}", f"{template}-{key}", country, kind, size)
    labels = country.labels
    pick = rng.choice
    mark = pick(country.currency_marks) if rng.random() < 0.9 else ""
    date_pattern = pick(country.date_formats)
    issuer, issuer_address = _party(country, fake, rng)
    buyer, buyer_address = _party(country, fake, rng)
    issued = date(2019, 1, 1) + timedelta(days=rng.randrange(2400))
    due = issued + timedelta(days=rng.choice((7, 14, 30, 45, 60)))
    prefix = pick(("INV", "RE", "F", "FA", "2024/", "", "SI-", "BL"))
    number = f"{prefix}{rng.randrange(10**3, 10**7)}"
    n_items = rng.choice((1, 2, 3, 4, 6, 9)) if rng.random() < 0.85 else rng.randrange(30, 70)
    if kind == "receipt":
        n_items = min(n_items, 8)
    items = [
        (
            fake.bs().capitalize()[:38] if hasattr(fake, "bs") else fake.word(),
            rng.randrange(1, 12),
            _money(rng.uniform(2, 900)),
        )
        for _ in range(n_items)
    ]
    subtotal = sum((q * p for _, q, p in items), Decimal("0")).quantize(CENT)
    tax = (subtotal * country.vat_rate).quantize(CENT, rounding=ROUND_HALF_UP)
    total = subtotal + tax
    deposit = Decimal("0")
    if kind == "invoice" and rng.random() < 0.25:
        deposit = (total * Decimal(pick(("0.1", "0.25", "0.3", "0.5")))).quantize(CENT)
    amount_due = total - deposit
    sign = Decimal("-1") if kind == "credit_note" and rng.random() < 0.5 else Decimal("1")
    issuer_tax = tax_id(country, rng)
    buyer_tax = tax_id(country, rng) if kind != "receipt" and rng.random() < 0.4 else None

    def money(value: Decimal) -> str:
        return format_money(value, country, rng, mark)

    def day(value: date) -> str:
        return format_day(value, country, date_pattern)

    colon = pick((":", "", ":"))
    w = _Writer(doc, 60.0 if kind != "receipt" else 30.0, 70.0 if kind != "receipt" else 20.0)
    title = pick(labels["credit_note" if kind == "credit_note" else kind])
    number_label = pick(
        labels[
            "credit_number"
            if kind == "credit_note"
            else ("receipt_number" if kind == "receipt" else "number")
        ]
    )
    width = size[0]
    if kind == "receipt":
        _receipt(
            w,
            doc,
            rng,
            issuer,
            issuer_address,
            issuer_tax,
            title,
            number_label,
            number,
            day(issued),
            items,
            total,
            money,
            labels,
            colon,
            country,
        )
    else:
        _invoice(
            w,
            doc,
            rng,
            template,
            issuer,
            issuer_address,
            issuer_tax,
            buyer,
            buyer_address,
            buyer_tax,
            title,
            number_label,
            number,
            day(issued),
            day(due),
            items,
            subtotal,
            tax,
            total,
            deposit,
            amount_due,
            sign,
            money,
            labels,
            colon,
            country,
            width,
        )
    doc.tax_amount = tax
    doc.fields = {
        "invoice_number": number,
        "issuer_name": issuer,
        "buyer_name": None if kind == "receipt" else buyer,
        "total_amount": float(total),
        "amount_due": None if kind == "receipt" else float(amount_due),
        "currency": country.currency,
        "issue_date": issued.isoformat(),
        "due_date": None if kind == "receipt" else due.isoformat(),
        "issuer_tax_id": issuer_tax,
        "buyer_tax_id": buyer_tax,
    }
    return doc


def _invoice(
    w,
    doc,
    rng,
    template,
    issuer,
    issuer_address,
    issuer_tax,
    buyer,
    buyer_address,
    buyer_tax,
    title,
    number_label,
    number,
    issued,
    due,
    items,
    subtotal,
    tax,
    total,
    deposit,
    amount_due,
    sign,
    money,
    labels,
    colon,
    country,
    width,
) -> None:
    pick = rng.choice
    right = width - 50
    tax_label = pick(country.tax_label)
    meta = [
        (number_label, number),
        (pick(labels["issue_date"]), issued),
        (pick(labels["due_date"]), due),
    ]
    if doc.kind == "credit_note":
        meta.insert(1, (pick(labels["reference"]), f"{number[:-2]}{rng.randrange(10, 99)}"))
    if template == "letter":
        w.put(50, f"{issuer} · {issuer_address[0]}", 7, dy=30)
    else:
        w.put(50, issuer, 15, bold=True)
        w.put(right, title, 18, bold=True, align="right", dy=18)
        for line in issuer_address:
            w.put(50, line, 9, dy=12)
        w.put(50, f"{tax_label}{colon} {issuer_tax}", 9, dy=12)
        if rng.random() < 0.15:
            w.put(50, f"(formerly {pick(('Alpha', 'Nova', 'Prime'))} Services)", 8, dy=12)
    w.down(20)
    top = w.y
    w.put(50, pick(labels["bill_to"]) + colon, 9, bold=True, dy=12)
    for line in [buyer, *buyer_address] + (
        [f"{tax_label}{colon} {buyer_tax}"] if buyer_tax else []
    ):
        w.put(50, line, 9, dy=12)
    if template == "letter":
        w.y = top - 40
        w.put(right, title, 16, bold=True, align="right", dy=22)
    else:
        w.y = top
    if template == "boxed":
        w.y = max(w.y, top + 80)
        xs = (50, 170, 290, 410)
        for x, (label, _) in zip(xs, meta, strict=False):
            w.put(x, label, 8, bold=True)
        w.down(12)
        for x, (_, value) in zip(xs, meta, strict=False):
            w.put(x, value, 9)
        w.down(30)
    else:
        for label, value in meta:
            w.put(330, f"{label}{colon}", 9)
            w.put(right, value, 9, align="right", dy=13)
        w.y = max(w.y, top + 90)
    w.put(50, pick(labels["item"]), 9, bold=True)
    w.put(380, pick(labels["qty"]), 9, bold=True, align="right")
    w.put(right, pick(labels["amount"]), 9, bold=True, align="right")
    w.down(16)
    for name, qty, price in items:
        w.put(50, name, 9)
        w.put(380, str(qty), 9, align="right")
        w.put(right, money(sign * qty * price), 9, align="right")
        w.down(13)
    w.down(10)
    rows = [
        (pick(labels["subtotal"]), sign * subtotal),
        (pick(labels["tax"]), sign * tax),
        (pick(labels["total"]), sign * total),
    ]
    if deposit:
        rows += [(pick(labels["deposit"]), -deposit), (pick(labels["due"]), amount_due)]
    for row, (label, value) in enumerate(rows):
        w.put(330, f"{label}{colon}", 9.5, bold=label in labels["total"] + labels["due"])
        w.put(
            right, money(value), 9.5, align="right", bold=label in labels["total"] + labels["due"]
        )
        if w.page > 0 and row == 2:  # the total (also the amount due when no deposit)
            doc.later_page_fields.update(
                ("total_amount",) if deposit else ("total_amount", "amount_due")
            )
        if w.page > 0 and row == 4:
            doc.later_page_fields.add("amount_due")
        w.down(14)
    w.down(16)
    w.put(50, f"IBAN {country.code}{rng.randrange(10, 99)} {rng.randrange(10**15, 10**16)}", 8)
    w.down(11)
    if template == "letter":
        w.put(50, f"{issuer} — {tax_label} {issuer_tax}", 8)
        if w.page > 0:  # the letterhead prints no tax id: the footer is its only place
            doc.later_page_fields.add("issuer_tax_id")
    for page in range(doc.pages):
        doc.texts.append(
            Text(
                page,
                width / 2,
                doc.page_size[1] - 30,
                f"{labels['page'][0]} {page + 1}/{doc.pages}",
                7,
                False,
                "center",
            )
        )


def _receipt(
    w,
    doc,
    rng,
    issuer,
    issuer_address,
    issuer_tax,
    title,
    number_label,
    number,
    issued,
    items,
    total,
    money,
    labels,
    colon,
    country,
) -> None:
    pick = rng.choice
    mid, right = doc.page_size[0] / 2, doc.page_size[0] - 12
    w.put(mid, issuer, 10, bold=True, align="center", dy=12)
    for line in issuer_address:
        w.put(mid, line, 7, align="center", dy=9)
    w.put(mid, f"{pick(country.tax_label)}{colon} {issuer_tax}", 7, align="center", dy=14)
    w.put(mid, title, 9, bold=True, align="center", dy=14)
    w.put(12, f"{number_label}{colon} {number}", 7, dy=9)
    w.put(
        12,
        f"{pick(labels['issue_date'])}{colon} {issued} {rng.randrange(8, 22):02d}:"
        f"{rng.randrange(60):02d}",
        7,
        dy=14,
    )
    for name, qty, price in items:
        w.put(12, f"{qty} x {name[:22]}", 7)
        w.put(right, money(qty * price), 7, align="right", dy=9)
    paid = (total / 10).to_integral_value() * 10 + 10
    w.down(6)
    w.put(12, pick(labels["total"]), 9, bold=True)
    w.put(right, money(total), 9, bold=True, align="right", dy=12)
    w.put(12, pick(labels["cash"]), 7)
    w.put(right, money(paid), 7, align="right", dy=9)
    w.put(12, pick(labels["change"]), 7)
    w.put(right, money(paid - total), 7, align="right", dy=9)
