"""Dashboard forms for sellers' invoices: upload, corrections of the extracted fields, listing.

Shape checks only; the services decide what is valid (file type by content, editable statuses,
amount precision, advance-rate cap).
"""

from __future__ import annotations

from decimal import Decimal

from django import forms

from invoices.enums import DebtorIndustry
from paymint.core.web import ServiceErrorFormMixin

ACCEPTED_UPLOAD_TYPES = ".pdf,.png,.jpg,.jpeg,application/pdf,image/png,image/jpeg"


class InvoiceUploadForm(ServiceErrorFormMixin, forms.Form):
    document = forms.FileField(
        label="Invoice document",
        help_text="PDF (e-invoices such as ZUGFeRD/Factur-X read best), PNG or JPEG; up to 15 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPTED_UPLOAD_TYPES}),
    )


def _date_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class InvoiceFieldsForm(ServiceErrorFormMixin, forms.Form):
    """The extracted fields as the seller confirms them.

    ``confidence`` ({field: 0-1 or None}) and ``low_confidence`` (field names) decorate each
    field: its help text shows the confidence, and low-confidence fields get the
    ``low-confidence`` class and a "please check" note.
    """

    invoice_number = forms.CharField(label="Invoice number", max_length=100, required=False)
    issuer_name = forms.CharField(label="Issuer (your company)", max_length=200, required=False)
    issuer_tax_id = forms.CharField(label="Issuer tax id", max_length=32, required=False)
    debtor_name = forms.CharField(label="Debtor (your customer)", max_length=200, required=False)
    debtor_tax_id = forms.CharField(label="Debtor tax id", max_length=32, required=False)
    debtor_industry = forms.ChoiceField(label="Debtor industry", required=False,
                                        choices=[("", "Not set"), *DebtorIndustry.choices])
    currency = forms.CharField(
        label="Currency",
        max_length=3,
        required=False,
        widget=forms.TextInput(attrs={"size": 3, "class": "uppercase"}),
    )
    face_value = forms.DecimalField(
        label="Invoice total (incl. tax)",
        max_digits=15,  # the money columns hold 13 digits before the point
        decimal_places=2,
        required=False,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )
    amount_due = forms.DecimalField(
        label="Amount due",
        max_digits=15,
        decimal_places=2,
        required=False,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )
    issue_date = forms.DateField(label="Issue date", required=False, widget=_date_widget())
    due_date = forms.DateField(label="Due date", required=False, widget=_date_widget())

    def __init__(
        self,
        *args,
        confidence: dict[str, float | None] | None = None,
        low_confidence: set[str] | frozenset[str] = frozenset(),
        editable: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        confidence = confidence or {}
        for name, field in self.fields.items():
            field.confidence = confidence.get(name)
            field.low_confidence = name in low_confidence
            if field.confidence is not None:
                if field.confidence > 0:
                    note = f"Read with {field.confidence:.0%} confidence"
                else:
                    note = "Not found in the document"
                if field.low_confidence:
                    note += " \u2013 please check"
                    css = field.widget.attrs.get("class", "")
                    field.widget.attrs["class"] = f"{css} low-confidence".strip()
                field.help_text = note + "."
            if not editable:
                field.disabled = True

    def changes(self) -> dict:
        """The fields the seller changed, with their cleaned values (for the service)."""
        return {name: self.cleaned_data[name] for name in self.changed_data}


class ListingCreateForm(ServiceErrorFormMixin, forms.Form):
    advance_rate = forms.DecimalField(
        label="Advance rate (%)",
        required=False,
        min_value=Decimal("0.01"),
        max_value=Decimal("100"),
        decimal_places=2,
        help_text="Leave empty to take the maximum advance for the grade.",
        widget=forms.NumberInput(attrs={"step": "0.5", "inputmode": "decimal"}),
    )

    min_fill_rate = forms.DecimalField(
        label="Minimum fill (%)",
        required=False,
        min_value=Decimal("0.01"),
        max_value=Decimal("100"),
        decimal_places=2,
        help_text="Optional: if at least this share is funded when the listing expires, take "
        "that part instead of cancelling.",
        widget=forms.NumberInput(attrs={"step": "5", "inputmode": "decimal"}),
    )

    def __init__(self, *args, advance_cap: Decimal | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if advance_cap:
            cap = f"{advance_cap * 100:.2f}".rstrip("0").rstrip(".")
            field = self.fields["advance_rate"]
            field.widget.attrs.update({"placeholder": cap, "max": cap})
            field.help_text = f"Up to {cap} % for this grade; leave empty to take the maximum."

    @staticmethod
    def _fraction(value: Decimal | None) -> Decimal | None:
        """Percent in the form, a fraction for the service (``85`` -> ``0.85``)."""
        return None if value is None else value / Decimal(100)

    def clean_advance_rate(self) -> Decimal | None:
        return self._fraction(self.cleaned_data.get("advance_rate"))

    def clean_min_fill_rate(self) -> Decimal | None:
        return self._fraction(self.cleaned_data.get("min_fill_rate"))
