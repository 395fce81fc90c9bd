"""The admin's "History" button of audited records opens their audit trail.

Mix :class:`AuditHistoryMixin` into a ``ModelAdmin`` (before ``admin.ModelAdmin``): the
History link of a record's change page then lists the :class:`~compliance.models.AuditEvent`
rows of that record (its changes and the staff actions on it) in the read-only audit trail
admin, where they can also be exported. For users (``audit_history_by_subject = True``) it
lists every event about the user: their profile, documents, invoices, investments, holds.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.admin.utils import unquote
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse


def audit_trail_url(obj, *, by_subject: bool = False) -> str:
    """The audit trail admin filtered to ``obj`` (or to events about the user ``obj``)."""
    if by_subject:
        query = {"subject_user__id__exact": obj.pk}
    else:
        content_type = ContentType.objects.get_for_model(obj)
        query = {"content_type__id__exact": content_type.pk, "object_pk": str(obj.pk)}
    return f"{reverse('admin:compliance_auditevent_changelist')}?{urlencode(query)}"


class AuditHistoryMixin:
    audit_history_by_subject = False

    def history_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404("No such record.")
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        return redirect(audit_trail_url(obj, by_subject=self.audit_history_by_subject))
