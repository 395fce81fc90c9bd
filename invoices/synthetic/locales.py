"""Country conventions for synthetic invoices: label vocabularies, date and number formats,
how the currency is printed, and tax ids that pass their country's check (python-stdnum).

Faker has no Malaysian locale (``ms_MY`` is not in Faker's list): Malaysian names and places
come from the small lists below, with Faker's en_US for the rest.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from babel.dates import format_date
from stdnum import luhn
from stdnum.de import vat as de_vat
from stdnum.es import cif as es_cif
from stdnum.fr import siren as fr_siren
from stdnum.fr import tva as fr_tva
from stdnum.gb import vat as gb_vat
from stdnum.in_ import gstin as in_gstin
from stdnum.it import iva as it_iva
from stdnum.nl import btw as nl_btw


@dataclass(frozen=True)
class Country:
    """One country's printing conventions. Labels are lists of alternatives per role."""

    code: str
    faker_locale: str
    babel_locale: str
    currency: str
    currency_marks: tuple[str, ...]  # ways the currency is printed: code, symbol, local word
    date_formats: tuple[str, ...]  # babel patterns
    thousands: str
    decimal: str
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tax_label: tuple[str, ...] = ()
    vat_rate: Decimal = Decimal("0.20")


COMMON_EN = {
    "invoice": ("INVOICE", "Invoice", "TAX INVOICE"),
    "credit_note": ("CREDIT NOTE", "Credit Note"),
    "receipt": ("RECEIPT", "Sales Receipt", "SIMPLIFIED TAX INVOICE"),
    "number": ("Invoice No.", "Invoice #", "Invoice Number", "Inv No:"),
    "credit_number": ("Credit Note No.", "Credit Note #", "CN No."),
    "reference": ("Ref. Invoice", "Original Invoice", "Against Invoice"),
    "receipt_number": ("Receipt No.", "Bill No", "Trans #"),
    "issue_date": ("Invoice Date", "Date", "Date of Issue", "Issued"),
    "due_date": ("Due Date", "Payment Due", "Due"),
    "bill_to": ("Bill To", "Billed To", "Customer", "Invoice To"),
    "subtotal": ("Subtotal", "Sub Total", "Net Amount", "Total excl. tax"),
    "tax": ("Tax", "VAT", "Sales Tax"),
    "total": ("Total", "Grand Total", "Invoice Total", "Total Amount"),
    "deposit": ("Deposit", "Less: Paid", "Advance Received", "Payments"),
    "due": ("Amount Due", "Balance Due", "Please Pay", "Amount Payable"),
    "cash": ("CASH", "Tendered"),
    "change": ("CHANGE", "Change Due"),
    "page": ("Page",),
    "item": ("Description", "Item"),
    "qty": ("Qty", "Quantity"),
    "amount": ("Amount", "Line Total"),
}


def _labels(**overrides: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {**COMMON_EN, **overrides}


COUNTRIES: dict[str, Country] = {
    "de": Country(
        "DE",
        "de_DE",
        "de_DE",
        "EUR",
        ("€", "EUR", "Euro"),
        ("dd.MM.y", "d. MMMM y"),
        ".",
        ",",
        _labels(
            invoice=("RECHNUNG", "Rechnung"),
            credit_note=("GUTSCHRIFT", "Gutschrift"),
            receipt=("Kassenbon", "Quittung"),
            number=("Rechnungsnummer", "Rechnungs-Nr.", "Rechnung Nr."),
            credit_number=("Gutschrift-Nr.", "Korrektur-Nr."),
            reference=("zu Rechnung", "Bezug: Rechnung"),
            receipt_number=("Bon-Nr.", "Beleg-Nr."),
            issue_date=("Rechnungsdatum", "Datum"),
            due_date=("Fällig am", "Zahlbar bis"),
            bill_to=("Rechnungsempfänger", "Herrn", "Kunde"),
            subtotal=("Zwischensumme", "Nettobetrag", "Summe netto"),
            tax=("MwSt. 19 %", "USt. 19%", "zzgl. 19% MwSt."),
            total=("Gesamtbetrag", "Rechnungsbetrag", "Summe brutto"),
            deposit=("Anzahlung", "abzgl. Anzahlung", "bereits bezahlt"),
            due=("Zahlbetrag", "Offener Betrag", "Noch zu zahlen"),
            cash=("BAR", "Gegeben"),
            change=("Rückgeld", "Zurück"),
            page=("Seite",),
            item=("Bezeichnung",),
            qty=("Menge",),
            amount=("Betrag",),
        ),
        ("USt-IdNr.", "USt-ID", "Steuernummer"),
        Decimal("0.19"),
    ),
    "fr": Country(
        "FR",
        "fr_FR",
        "fr_FR",
        "EUR",
        ("€", "EUR"),
        ("dd/MM/y", "d MMMM y"),
        " ",
        ",",
        _labels(
            invoice=("FACTURE", "Facture"),
            credit_note=("AVOIR", "Facture d'avoir"),
            receipt=("Ticket de caisse", "REÇU"),
            number=("Facture n°", "N° de facture", "Numéro"),
            credit_number=("Avoir n°",),
            reference=("Réf. facture", "Facture d'origine"),
            receipt_number=("Ticket n°",),
            issue_date=("Date de facture", "Date", "Émise le"),
            due_date=("Échéance", "Date d'échéance", "À payer avant le"),
            bill_to=("Facturé à", "Client", "Destinataire"),
            subtotal=("Total HT", "Montant HT"),
            tax=("TVA 20 %", "TVA (20%)"),
            total=("Total TTC", "Montant TTC"),
            deposit=("Acompte versé", "Déjà réglé"),
            due=("Net à payer", "Reste à payer"),
            cash=("ESPÈCES",),
            change=("RENDU",),
            page=("Page",),
            item=("Désignation",),
            qty=("Qté",),
            amount=("Montant",),
        ),
        ("TVA intracom.", "N° TVA", "SIREN"),
        Decimal("0.20"),
    ),
    "it": Country(
        "IT",
        "it_IT",
        "it_IT",
        "EUR",
        ("€", "EUR", "Euro"),
        ("dd/MM/y", "d MMMM y"),
        ".",
        ",",
        _labels(
            invoice=("FATTURA", "Fattura"),
            credit_note=("NOTA DI CREDITO", "Nota di credito"),
            receipt=("SCONTRINO", "Ricevuta"),
            number=("Fattura n.", "Numero", "N. documento"),
            credit_number=("Nota di credito n.",),
            reference=("Rif. fattura",),
            receipt_number=("Scontrino n.",),
            issue_date=("Data", "Data documento"),
            due_date=("Scadenza", "Data scadenza"),
            bill_to=("Spett.le", "Cliente"),
            subtotal=("Imponibile", "Totale imponibile"),
            tax=("IVA 22%", "Imposta 22%"),
            total=("Totale documento", "Totale fattura", "Totale"),
            deposit=("Acconto", "Già pagato"),
            due=("Netto a pagare", "Da pagare"),
            cash=("CONTANTI",),
            change=("RESTO",),
            page=("Pagina",),
            item=("Descrizione",),
            qty=("Q.tà",),
            amount=("Importo",),
        ),
        ("P.IVA", "Partita IVA"),
        Decimal("0.22"),
    ),
    "es": Country(
        "ES",
        "es_ES",
        "es_ES",
        "EUR",
        ("€", "EUR"),
        ("dd/MM/y", "d 'de' MMMM 'de' y"),
        ".",
        ",",
        _labels(
            invoice=("FACTURA", "Factura"),
            credit_note=("FACTURA RECTIFICATIVA", "Abono"),
            receipt=("TIQUE", "Ticket"),
            number=("Nº factura", "Factura nº", "Número"),
            credit_number=("Rectificativa nº",),
            reference=("Factura rectificada",),
            receipt_number=("Ticket nº",),
            issue_date=("Fecha", "Fecha de emisión"),
            due_date=("Vencimiento", "Fecha de vencimiento"),
            bill_to=("Cliente", "Facturar a"),
            subtotal=("Base imponible", "Subtotal"),
            tax=("IVA 21%", "IVA (21 %)"),
            total=("Total factura", "Total", "Importe total"),
            deposit=("Anticipo", "Pagado"),
            due=("Total a pagar", "Pendiente"),
            cash=("EFECTIVO",),
            change=("CAMBIO",),
            page=("Página",),
            item=("Concepto",),
            qty=("Cant.",),
            amount=("Importe",),
        ),
        ("CIF", "NIF"),
        Decimal("0.21"),
    ),
    "nl": Country(
        "NL",
        "nl_NL",
        "nl_NL",
        "EUR",
        ("€", "EUR"),
        ("dd-MM-y", "d MMMM y"),
        ".",
        ",",
        _labels(
            invoice=("FACTUUR", "Factuur"),
            credit_note=("CREDITNOTA", "Creditfactuur"),
            receipt=("KASSABON", "Bon"),
            number=("Factuurnummer", "Factuur nr."),
            credit_number=("Creditnota nr.",),
            reference=("Betreft factuur",),
            receipt_number=("Bonnr.",),
            issue_date=("Factuurdatum", "Datum"),
            due_date=("Vervaldatum", "Te betalen voor"),
            bill_to=("Aan", "Klant"),
            subtotal=("Subtotaal", "Totaal excl. btw"),
            tax=("BTW 21%", "Btw 21 %"),
            total=("Totaal", "Totaal incl. btw", "Factuurbedrag"),
            deposit=("Aanbetaling", "Reeds betaald"),
            due=("Te betalen", "Openstaand"),
            cash=("CONTANT",),
            change=("WISSELGELD",),
            page=("Pagina",),
            item=("Omschrijving",),
            qty=("Aantal",),
            amount=("Bedrag",),
        ),
        ("BTW-nr.", "Btw-id"),
        Decimal("0.21"),
    ),
    "gb": Country(
        "GB",
        "en_GB",
        "en_GB",
        "GBP",
        ("£", "GBP"),
        ("dd/MM/y", "d MMMM y"),
        ",",
        ".",
        _labels(),
        ("VAT Reg No.", "VAT No."),
        Decimal("0.20"),
    ),
    "us": Country(
        "US",
        "en_US",
        "en_US",
        "USD",
        ("$", "USD", "US$"),
        ("MM/dd/y", "MMMM d, y"),
        ",",
        ".",
        _labels(tax=("Sales Tax", "Tax (8.25%)")),
        ("EIN", "Tax ID"),
        Decimal("0.0825"),
    ),
    "in": Country(
        "IN",
        "en_IN",
        "en_IN",
        "INR",
        ("₹", "Rs.", "INR", "Rs"),
        ("dd/MM/y", "dd-MM-y"),
        ",",
        ".",
        _labels(tax=("IGST 18%", "CGST + SGST 18%", "GST @18%")),
        ("GSTIN", "GSTIN/UIN"),
        Decimal("0.18"),
    ),
    "my": Country(
        "MY",
        "en_US",
        "en_GB",
        "MYR",
        ("RM", "MYR"),
        ("dd/MM/y", "dd-MM-y"),
        ",",
        ".",
        _labels(
            receipt=("RESIT", "SIMPLIFIED TAX INVOICE", "TAX INVOICE"),
            number=("Invoice No.", "No. Invois"),
            issue_date=("Date", "Tarikh"),
            total=("TOTAL", "Jumlah", "Total (incl. SST)"),
            tax=("SST 6%", "Service Tax 6%"),
            due=("Amount Due", "Baki"),
            cash=("CASH", "TUNAI"),
            change=("CHANGE", "BAKI"),
        ),
        ("SST Reg No.", "SST ID", "GST Reg No"),
        Decimal("0.06"),
    ),
}

MY_COMPANIES = ("Kedai Runcit", "Restoran", "Syarikat", "Pasaraya", "Kopitiam", "Farmasi")
MY_NAMES = ("Ah Seng", "Maju Jaya", "Sinar Harapan", "Bintang Emas", "Cahaya Baru", "Seri Murni")
MY_SUFFIXES = ("Sdn Bhd", "Enterprise", "Trading", "(M) Sdn. Bhd.")
MY_PLACES = (
    "Jalan Ampang, 50450 Kuala Lumpur",
    "Jalan SS2/24, 47300 Petaling Jaya",
    "Jalan Wong Ah Fook, 80000 Johor Bahru",
    "Lebuh Chulia, 10200 George Town",
)


def malaysian_company(rng: random.Random) -> str:
    return f"{rng.choice(MY_COMPANIES)} {rng.choice(MY_NAMES)} {rng.choice(MY_SUFFIXES)}"


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _until_valid(rng: random.Random, make, is_valid) -> str:
    for _ in range(10_000):
        candidate = make()
        if is_valid(candidate):
            return candidate
    raise RuntimeError("no valid tax id generated")  # pragma: no cover - astronomically rare


def tax_id(country: Country, rng: random.Random) -> str:
    """A tax id valid for ``country`` as python-stdnum checks it, formatted as printed.
    Malaysia's SST registration numbers have no published check: a well-formed one."""
    code = country.code
    if code == "DE":
        return _until_valid(rng, lambda: "DE" + _digits(rng, 9), de_vat.is_valid)
    if code == "FR":
        siren = _until_valid(rng, lambda: _digits(rng, 9), fr_siren.is_valid)
        key = (12 + 3 * (int(siren) % 97)) % 97
        number = f"FR{key:02d}{siren}"
        return number if fr_tva.is_valid(number) else siren
    if code == "IT":
        return _until_valid(
            rng,
            lambda: "IT" + _digits(rng, 10) + "0",
            lambda v: it_iva.is_valid(v[2:]) and v[2:] != "0" * 11,
        )
    if code == "ES":
        return _until_valid(
            rng,
            lambda: "ES" + rng.choice("ABEGH") + _digits(rng, 8),
            lambda v: es_cif.is_valid(v[2:]),
        )
    if code == "NL":
        return _until_valid(rng, lambda: "NL" + _digits(rng, 9) + "B01", nl_btw.is_valid)
    if code == "GB":
        return _until_valid(rng, lambda: "GB" + _digits(rng, 9), gb_vat.is_valid)
    if code == "US":
        return f"{rng.choice(['12', '27', '46', '84', '94'])}-{_digits(rng, 7)}"
    if code == "IN":

        def make() -> str:
            pan = (
                "".join(rng.choice(string.ascii_uppercase) for _ in range(3))
                + "C"
                + rng.choice(string.ascii_uppercase)
                + _digits(rng, 4)
                + rng.choice(string.ascii_uppercase)
            )
            return f"{rng.choice(['27', '29', '07', '33', '24'])}{pan}1Z" + rng.choice(
                string.digits + string.ascii_uppercase
            )

        return _until_valid(rng, make, in_gstin.is_valid)
    if code == "MY":
        return f"W10-{_digits(rng, 4)}-{_digits(rng, 8)}"
    return luhn.calc_check_digit(_digits(rng, 8))


def format_amount(value: Decimal, country: Country, rng: random.Random) -> str:
    """``value`` (2 places) with the country's separators; India sometimes groups in lakhs."""
    sign = "-" if value < 0 else ""
    whole, frac = f"{abs(value):.2f}".split(".")
    if country.code == "IN" and rng.random() < 0.5 and len(whole) > 3:
        head, tail = whole[:-3], whole[-3:]
        groups = []
        while len(head) > 2:
            groups.insert(0, head[-2:])
            head = head[:-2]
        grouped = ",".join([head, *groups, tail]) if head else ",".join([*groups, tail])
    else:
        grouped = f"{int(whole):,}".replace(",", "\x00")
        grouped = grouped.replace("\x00", country.thousands if rng.random() < 0.8 else "")
    return f"{sign}{grouped}{country.decimal}{frac}"


def format_money(value: Decimal, country: Country, rng: random.Random, mark: str) -> str:
    """An amount with the currency mark before or after it (``mark`` may be empty)."""
    amount = format_amount(value, country, rng)
    if not mark:
        return amount
    if mark in ("€",) and country.decimal == ",":
        return f"{amount} {mark}"
    return f"{mark} {amount}" if len(mark) > 1 or rng.random() < 0.5 else f"{mark}{amount}"


def format_day(day: date, country: Country, pattern: str) -> str:
    return format_date(day, format=pattern, locale=country.babel_locale)
