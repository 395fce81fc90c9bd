"""Forms and services: a form only checks the shape of the input; the rules are the
services'. :class:`ServiceErrorFormMixin` puts an :class:`~paymint.core.errors.ApplicationError`
raised by a service back on the form: each of its ``fields`` messages next to the matching
field, the rest as non-field errors."""

from __future__ import annotations

from django import forms

from paymint.core.errors import ApplicationError


class ServiceErrorFormMixin:
    """Mix into a form to show a service's :class:`ApplicationError` on it."""

    #: Service field name -> form field name, where they differ.
    service_field_map: dict[str, str] = {}

    def add_application_error(self, exc: ApplicationError) -> None:
        for name, messages in (exc.fields or {}).items():
            target = self.service_field_map.get(name, name)
            for message in messages:
                self.add_error(target if target in self.fields else None, message)
        # The service's headline message (with its stable code) goes on top of the form.
        self.add_error(None, forms.ValidationError(exc.message, code=exc.code))
