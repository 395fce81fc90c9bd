"""What the apps plug into core: core names no app, so each app registers its own pieces in
its ``AppConfig.ready``. Importable while the apps load (it imports nothing of Django's).

- :data:`UPLOAD_SOURCES` - the models whose rows count in a user's upload quota
  (:mod:`paymint.core.uploads`);
- :data:`PRIVATE_FILE_RESOLVERS` - the kinds of private file served through signed URLs
  (:mod:`paymint.core.storage`);
- :data:`EVENT_HANDLERS` - what listens to domain events (:mod:`paymint.core.events`);
- :data:`PERSONAL_DATA_ERASERS` - what erases an app's personal data of a user (the
  data-subject erasure).
"""

from __future__ import annotations

#: Where uploads are recorded: (model label, user field, size field in bytes, time field),
#: registered by the apps that store uploads (:func:`register_upload_source`, in their
#: ``AppConfig.ready``), so that core names no app.
UPLOAD_SOURCES: list[tuple[str, str, str, str]] = []


def register_upload_source(
    model: str, *, user_field: str, size_field: str, time_field: str
) -> None:
    """Count the rows of ``model`` (``"app_label.Model"``) in every user's upload quota: one
    file per row, of ``size_field`` bytes, uploaded by ``user_field`` at ``time_field``."""
    source = (model, user_field, size_field, time_field)
    if source not in UPLOAD_SOURCES:
        UPLOAD_SOURCES.append(source)


#: kind -> dotted path of ``resolver(*, user, object_id) -> PrivateFile`` (raises NotFound),
#: registered by the apps that keep private files (:func:`register_private_file_kind`, in
#: their ``AppConfig.ready``), so that core names no app.
PRIVATE_FILE_RESOLVERS: dict[str, str] = {}


def register_private_file_kind(kind: str, resolver: str) -> None:
    """Serve files of ``kind`` through signed URLs; ``resolver`` is the dotted path of
    ``resolver(*, user, object_id) -> PrivateFile`` that raises ``NotFound`` when ``user``
    may not see the object."""
    if PRIVATE_FILE_RESOLVERS.setdefault(kind, resolver) != resolver:
        raise ValueError(f"Private file kind {kind!r} is already registered.")


#: Dotted paths of ``handler(event: DomainEvent) -> None``, each called once per domain event
#: (:mod:`paymint.core.events`), registered by the apps that listen
#: (:func:`register_event_handler`, in their ``AppConfig.ready``), so that core names no app.
EVENT_HANDLERS: list[str] = []


def register_event_handler(handler: str) -> None:
    """Call ``handler`` (a dotted path) for every domain event. Handlers must be idempotent:
    a dispatch that fails part-way is retried and calls every handler again."""
    if handler not in EVENT_HANDLERS:
        EVENT_HANDLERS.append(handler)


#: Dotted paths of ``eraser(*, user) -> dict[str, int]``, called by the erasure of a user's
#: personal data (``compliance.data_protection.erasure_execute``) inside its transaction, for
#: the personal data an app above compliance keeps (notification texts, push tokens); each
#: returns what it erased (``{"what": count}``, recorded in the audit event). Registered by
#: those apps (:func:`register_personal_data_eraser`, in their ``AppConfig.ready``).
PERSONAL_DATA_ERASERS: list[str] = []


def register_personal_data_eraser(eraser: str) -> None:
    """Call ``eraser`` (a dotted path) when a user's personal data is erased. It must write
    only inside the caller's transaction and be safe to call twice."""
    if eraser not in PERSONAL_DATA_ERASERS:
        PERSONAL_DATA_ERASERS.append(eraser)
