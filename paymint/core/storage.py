"""Private files: uploads are served only through short-lived signed URLs, as attachments.

Nothing under ``MEDIA_ROOT`` / the bucket is ever public (``MEDIA_URL`` is not routed; S3
objects are written with the ``private`` ACL). To open a document, its owner (or staff) asks
a view that checks access - e.g. ``/seller/invoices/<id>/document/`` - for a URL:

* local storage: ``/files/<token>``, where the token is a :class:`~django.core.signing.
  TimestampSigner` signature over ``{kind, object id, user}``; :func:`private_file_download`
  checks the signature, its age (``settings.PRIVATE_FILE_URL_MAX_AGE`` seconds), that the
  requester is that user (or verified staff) and that they may still see the object, then
  streams the file with ``Content-Disposition: attachment``, ``X-Content-Type-Options:
  nosniff`` and ``Cache-Control: private, no-store``;
* S3 (django-storages): a presigned ``GET`` URL that expires after the same time, with
  ``ResponseContentDisposition=attachment`` (and the content type and cache control) signed
  into it, so S3 itself sends the attachment headers.

A kind of file is registered (:func:`register_private_file_kind`) as the dotted path of a
selector ``(user, object_id) -> PrivateFile`` that raises ``NotFound`` when ``user`` may not
see it; tokens carry only the kind, the object's public id and the user's public id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.db.models.fields.files import FieldFile
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseForbidden,
    HttpResponseRedirect,
)
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.utils.http import content_disposition_header
from django.utils.module_loading import import_string
from django.views.decorators.http import require_GET
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.settings import api_settings

from .errors import NotFound
from .registries import PRIVATE_FILE_RESOLVERS

#: Signing salt of download tokens (a token for anything else never validates here).
DOWNLOAD_SALT = "paymint.core.storage.private-file"

@dataclass(frozen=True)
class PrivateFile:
    """A stored file and how it is handed out: the download name and its content type."""

    file: FieldFile
    filename: str
    content_type: str


def is_verified_staff(user, permission: str = "") -> bool:
    """Active staff signed in with their second factor (django-otp ``is_verified``) and, when
    ``permission`` (``"app_label.codename"``) is given, holding it through their back-office
    role (:mod:`accounts.roles`)."""
    return bool(
        user.is_authenticated
        and user.is_staff
        and user.is_active
        and getattr(user, "is_verified", lambda: False)()
        and (not permission or user.has_perm(permission))
    )


def presigns(storage) -> bool:
    """True when ``storage`` hands out presigned URLs itself (S3 with query-string auth)."""
    return bool(getattr(storage, "querystring_auth", False)) and hasattr(storage, "bucket_name")


def presigned_url(private_file: PrivateFile, *, expires_in: int | None = None) -> str:
    """A presigned S3 ``GET`` URL of ``private_file`` that makes S3 answer with
    ``Content-Disposition: attachment``, its content type and ``Cache-Control: private,
    no-store``; valid ``expires_in`` seconds (default ``PRIVATE_FILE_URL_MAX_AGE``)."""
    storage = private_file.file.storage
    return storage.url(
        private_file.file.name,
        parameters={
            "ResponseContentDisposition": content_disposition_header(
                True, private_file.filename
            ),
            "ResponseContentType": private_file.content_type,
            "ResponseCacheControl": "private, no-store",
        },
        expire=expires_in or settings.PRIVATE_FILE_URL_MAX_AGE,
    )


def private_file_token(*, kind: str, object_id, user) -> str:
    """A signed, timestamped token for ``user`` to download object ``object_id`` of ``kind``."""
    if kind not in PRIVATE_FILE_RESOLVERS:
        raise ValueError(f"Unknown private file kind {kind!r}.")
    payload = {"k": kind, "o": str(object_id), "u": str(user.public_id)}
    return signing.TimestampSigner(salt=DOWNLOAD_SALT).sign_object(payload)


def private_file_url(
    *, kind: str, object_id, user, private_file: PrivateFile, request: HttpRequest | None = None
) -> str:
    """The short-lived download URL of ``private_file`` for ``user`` (see the module
    docstring); absolute when ``request`` is given (API answers)."""
    if presigns(private_file.file.storage):
        return presigned_url(private_file)
    path = reverse("private-file", args=[private_file_token(kind=kind, object_id=object_id,
                                                            user=user)])
    return request.build_absolute_uri(path) if request is not None else path


def private_file_redirect(
    request: HttpRequest, *, kind: str, object_id, private_file: PrivateFile
) -> HttpResponse:
    """Send the (already authorized) requester to a fresh signed URL of ``private_file``.

    Pages link to a stable view that calls this, so a link never goes stale."""
    url = private_file_url(
        kind=kind, object_id=object_id, user=request.user, private_file=private_file
    )
    response = HttpResponseRedirect(url)
    add_never_cache_headers(response)
    response["Referrer-Policy"] = "no-referrer"
    return response


def attachment_response(private_file: PrivateFile) -> FileResponse:
    """Stream ``private_file`` as a download: attachment, nosniff, never cached, sandboxed."""
    response = FileResponse(
        private_file.file.open("rb"),
        as_attachment=True,
        filename=private_file.filename,
        content_type=private_file.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Referrer-Policy"] = "no-referrer"
    patch_cache_control(response, private=True, no_store=True)
    return response


def _requester(request: HttpRequest):
    """The signed-in user: the session's, or the API's (``Authorization: Bearer <JWT>``)."""
    if request.user.is_authenticated or "HTTP_AUTHORIZATION" not in request.META:
        return request.user
    drf_request = Request(
        request, authenticators=[cls() for cls in api_settings.DEFAULT_AUTHENTICATION_CLASSES]
    )
    try:
        return drf_request.user
    except APIException:
        return request.user


@require_GET
def private_file_download(request: HttpRequest, token: str) -> HttpResponse:
    """``GET /files/<token>``: the file a signed token names, for the user it was issued to
    (signed in with a session, or with the API's bearer token).

    403 for a bad or expired signature or another user's token; 404 when the object is gone
    or the requester may no longer see it; anonymous browsers are sent to sign in."""
    user = _requester(request)
    if not user.is_authenticated:
        if "HTTP_AUTHORIZATION" in request.META:
            return _forbidden("Sign in to download this file.")
        return redirect_to_login(request.get_full_path())
    try:
        payload = signing.TimestampSigner(salt=DOWNLOAD_SALT).unsign_object(
            token, max_age=settings.PRIVATE_FILE_URL_MAX_AGE
        )
    except signing.SignatureExpired:
        return _forbidden("This download link has expired. Open the document again.")
    except signing.BadSignature:
        return _forbidden("This download link is not valid.")
    kind = payload.get("k") if isinstance(payload, dict) else None
    if kind not in PRIVATE_FILE_RESOLVERS:
        return _forbidden("This download link is not valid.")
    if str(user.public_id) != payload.get("u") and not is_verified_staff(user):
        return _forbidden("This download link was issued to someone else.")
    try:
        object_id = uuid.UUID(payload.get("o", ""))
        private_file = import_string(PRIVATE_FILE_RESOLVERS[kind])(
            user=user, object_id=object_id
        )
    except (NotFound, ValueError):
        raise Http404("File not found.") from None
    if not private_file.file:  # e.g. deleted by retention or erasure; the row stays
        raise Http404("This file is no longer kept.")
    if presigns(private_file.file.storage):
        return private_file_redirect(
            request, kind=kind, object_id=object_id, private_file=private_file
        )
    return attachment_response(private_file)


def _forbidden(message: str) -> HttpResponseForbidden:
    response = HttpResponseForbidden(message, content_type="text/plain; charset=utf-8")
    add_never_cache_headers(response)
    return response
