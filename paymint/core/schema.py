"""OpenAPI schema generation tweaks for drf-spectacular."""

from collections import defaultdict

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.settings import spectacular_settings
from rest_framework import serializers

from .api import NewestFirstCursorPagination
from .error_catalog import operation_codes


class ErrorSerializer(serializers.Serializer):
    """Every error answer of the API (``paymint.core.api.exception_handler``)."""

    code = serializers.CharField(help_text="Stable UPPER_SNAKE code, e.g. NOT_FOUND.")
    message = serializers.CharField(help_text="Human-readable explanation.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per input field (may be empty).",
    )


#: Error statuses every operation may answer, all with :class:`ErrorSerializer`: invalid
#: input, missing/bad credentials (or webhook signature), refused, not found (another user's
#: object answers exactly like a missing one), rate limited. Writes may also conflict with
#: the current state, send a body the API cannot parse, or reuse an idempotency key.
READ_ERRORS = {
    "400": "Invalid input (VALIDATION_ERROR, MALFORMED_REQUEST, ...).",
    "401": "Not signed in, or the token (webhook: the signature) is invalid.",
    "403": "Not allowed for this account (role, KYC status, hold).",
    "404": "No such object for this user, or an invalid pagination cursor.",
    "429": "Rate limited (RATE_LIMITED); retry later.",
}
WRITE_ERRORS = {
    **READ_ERRORS,
    "409": "Conflicts with the current state (e.g. an illegal status change).",
    "415": "Unsupported request content type.",
    "422": "Idempotency-Key reused with a different request.",
}


class PayMintAutoSchema(AutoSchema):
    """Names nested serializers (``UserRegisterApi.InputSerializer``) after their API class,
    so every operation's ``InputSerializer``/``OutputSerializer`` gets a unique component name
    (``UserRegisterApiInput``); documents the error answers (:data:`READ_ERRORS`,
    :data:`WRITE_ERRORS`) with the error codes the operation can raise
    (:func:`paymint.core.error_catalog.operation_codes`: in each error response's description
    and as ``x-error-codes``, ``{status: [code, ...]}``) and the cursor pagination of list
    answers (``paginated()``)."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        by_status: dict[str, list[str]] = defaultdict(list)
        for code in operation_codes(type(self.view), method):
            by_status[str(code.http_status)].append(str(code))
        responses = operation.setdefault("responses", {})
        for status, codes in by_status.items():
            if status not in responses:
                responses[status] = self._get_response_for_code(ErrorSerializer, status)
                responses[status]["description"] = "Error."
            listed = ", ".join(codes)
            responses[status]["description"] = (
                f"{responses[status].get('description', '').rstrip()} Codes: {listed}.".strip())
        operation["x-error-codes"] = dict(sorted(by_status.items()))
        return operation

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        errors = READ_ERRORS if self.method in ("GET", "HEAD") else WRITE_ERRORS
        for code, description in errors.items():
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code,
                                                       direction=direction)
                response["description"] = description
                responses[code] = response
        return responses

    def map_parsers(self):
        """One request content type per operation, the one clients should send: multipart for
        a body with a file (uploads), JSON otherwise. The views still accept what their parsers
        read, but a schema listing three content types for one body makes generated clients
        send it as all of them (openapi-python-client 0.29 does)."""
        media = super().map_parsers()
        serializer = self.get_request_serializer()
        if isinstance(serializer, type) and issubclass(serializer, serializers.Serializer):
            serializer = serializer()
        fields = serializer.fields if isinstance(serializer, serializers.Serializer) else {}
        has_file = any(isinstance(f, serializers.FileField) for f in fields.values())
        preferred = "multipart/form-data" if has_file else "application/json"
        return [preferred] if preferred in media else media

    def _get_paginator(self):
        """Every list answer of the API goes through ``paymint.core.api.paginated`` (cursor
        pagination, house style), so a GET that returns a list is documented as paginated."""
        paginator = super()._get_paginator()
        if paginator is None and self.method == "GET" and self._is_list_view():
            return NewestFirstCursorPagination()
        return paginator

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False) -> str:
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        qualname = type(serializer).__qualname__
        if "." in qualname:
            owner, _, inner = qualname.rpartition(".")
            inner = inner.removesuffix("Serializer")
            name = f"{owner.replace('.', '')}{inner}"
            if direction == "request" and self._is_split_request(serializer):
                name += "Request"
        return name

    def _is_split_request(self, serializer) -> bool:
        return bool(spectacular_settings.COMPONENT_SPLIT_REQUEST)
