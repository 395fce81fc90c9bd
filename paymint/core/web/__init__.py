"""What every app's pages share: the role guard of a page, the htmx test, and the form mixin
that shows a service's error on a form. Template filters are ``paymint/core/templatetags``
(``{% load paymint_tags %}``)."""

from .forms import ServiceErrorFormMixin
from .pages import is_htmx, role_required

__all__ = ["ServiceErrorFormMixin", "is_htmx", "role_required"]
