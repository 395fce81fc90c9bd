"""The debtor's confirmation page, reached through the signed link (no account needed)."""

from __future__ import annotations

from django import forms
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from paymint.core.errors import ApplicationError

from .confirmation import confirmation_from_token, debtor_confirmation_respond


class DebtorAnswerForm(forms.Form):
    answer = forms.ChoiceField(choices=[("confirm", "The invoice is genuine and unpaid"),
                                        ("dispute", "I dispute this invoice")],
                               widget=forms.RadioSelect)
    note = forms.CharField(required=False, max_length=2000, label="Comment (optional)",
                           widget=forms.Textarea(attrs={"rows": 3}))


@require_http_methods(["GET", "POST"])
def debtor_confirm(request, token: str):
    """GET shows the invoice and the form; POST records the answer once."""
    try:
        confirmation = confirmation_from_token(token)
    except ApplicationError as exc:
        return render(request, "invoices/debtor_confirm.html", {"error": exc.message},
                      status=exc.http_status)
    form = DebtorAnswerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            confirmation = debtor_confirmation_respond(
                token=token, confirmed=form.cleaned_data["answer"] == "confirm",
                note=form.cleaned_data["note"])
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            return render(request, "invoices/debtor_confirm.html",
                          {"confirmation": confirmation, "done": True})
    return render(request, "invoices/debtor_confirm.html",
                  {"confirmation": confirmation, "invoice": confirmation.invoice, "form": form})
