"""OpenAPI schema generation tweaks for drf-spectacular."""

from drf_spectacular.openapi import AutoSchema


class PayMintAutoSchema(AutoSchema):
    """Names nested serializers (``UserRegisterApi.InputSerializer``) after their API class,
    so every operation's ``InputSerializer``/``OutputSerializer`` gets a unique component name
    (``UserRegisterApiInput``)."""

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
        from drf_spectacular.settings import spectacular_settings

        return bool(spectacular_settings.COMPONENT_SPLIT_REQUEST)
