"""Field-level encryption at rest (Fernet, AES-128-CBC + HMAC-SHA256) with key rotation.

Keys come only from ``settings.FIELD_ENCRYPTION_KEYS``: a list of Fernet keys (url-safe base64
of 32 random bytes, ``Fernet.generate_key()``), **newest first**. Values are always encrypted
under the newest key and decrypted with whichever key works (:class:`MultiFernet`), so a new
key can be put in front at any time; ``manage.py rotate_field_encryption_keys`` then
re-encrypts every stored value under it, after which the old keys can be removed.

Encrypted columns cannot be searched. Where a lookup is needed (the KYC tax id) a keyed hash
(HMAC-SHA256, :func:`lookup_hash`) is stored beside the ciphertext; its key is derived from
each encryption key (HKDF), and a query matches the hashes under every configured key
(:func:`lookup_hashes`), so lookups keep working during a rotation.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "FieldDecryptionError",
    "InvalidToken",
    "decrypt_text",
    "encrypt_text",
    "encryption_keys",
    "is_encrypted_under_newest_key",
    "lookup_hash",
    "lookup_hashes",
    "normalize_for_lookup",
    "rotate_token",
]


class FieldDecryptionError(Exception):
    """A stored value could not be decrypted with any key of ``FIELD_ENCRYPTION_KEYS``
    (a key was removed before ``rotate_field_encryption_keys`` ran, or the data is corrupt)."""


def encryption_keys() -> tuple[str, ...]:
    """``settings.FIELD_ENCRYPTION_KEYS`` as a tuple, newest first.

    Raises:
        ImproperlyConfigured: no key, or a key that is not a valid Fernet key.
    """
    raw = getattr(settings, "FIELD_ENCRYPTION_KEYS", None) or ()
    if isinstance(raw, str):
        raw = raw.split(",")
    keys = tuple(k.strip() for k in raw if k and k.strip())
    if not keys:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS is not set: give one or more Fernet keys, newest first."
        )
    _fernets(keys)  # validates every key
    return keys


def validate_keys(keys) -> None:
    """Raise :class:`ImproperlyConfigured` unless every key is a valid Fernet key."""
    _fernets(tuple(keys))


@lru_cache(maxsize=16)
def _fernets(keys: tuple[str, ...]) -> tuple[Fernet, ...]:
    fernets = []
    for position, key in enumerate(keys):
        try:
            fernets.append(Fernet(key.encode()))
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS[{position}] is not a Fernet key (url-safe base64 of "
                "32 bytes, e.g. from cryptography.fernet.Fernet.generate_key())."
            ) from None
    return tuple(fernets)


@lru_cache(maxsize=16)
def _multi(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet(list(_fernets(keys)))


def encrypt_text(value: str) -> str:
    """``value`` encrypted under the newest key, as an ASCII Fernet token (``gAAAAA...``)."""
    keys = encryption_keys()
    return _fernets(keys)[0].encrypt(value.encode()).decode("ascii")


def decrypt_text(token: str) -> str:
    """The plaintext of a token produced by :func:`encrypt_text` under any configured key.

    Raises:
        FieldDecryptionError: no configured key decrypts ``token``.
    """
    try:
        return _multi(encryption_keys()).decrypt(token.encode()).decode()
    except (InvalidToken, UnicodeError):
        raise FieldDecryptionError(
            "A stored value cannot be decrypted with FIELD_ENCRYPTION_KEYS."
        ) from None


def is_encrypted_under_newest_key(token: str) -> bool:
    """True when the newest key decrypts ``token`` (rotation has nothing to do)."""
    try:
        _fernets(encryption_keys())[0].decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate_token(token: str) -> str:
    """``token`` re-encrypted under the newest key (its original timestamp is kept).

    Raises:
        FieldDecryptionError: no configured key decrypts ``token``.
    """
    try:
        return _multi(encryption_keys()).rotate(token.encode()).decode("ascii")
    except InvalidToken:
        raise FieldDecryptionError(
            "A stored value cannot be decrypted with FIELD_ENCRYPTION_KEYS."
        ) from None


def normalize_for_lookup(value: str) -> str:
    """What a lookup hash is taken over: upper-case letters and digits only
    (``"de 136 695 976"`` and ``"DE136695976"`` hash alike)."""
    return "".join(ch for ch in (value or "").upper() if ch.isalnum())


@lru_cache(maxsize=16)
def _hash_key(key: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"paymint field lookup hash v1"
    ).derive(key.encode())


def _hash(key: str, value: str) -> str:
    return hmac.new(_hash_key(key), value.encode(), hashlib.sha256).hexdigest()


def lookup_hash(value: str) -> str:
    """HMAC-SHA256 (hex) of the normalized ``value`` under the newest key; ``""`` for blank."""
    normalized = normalize_for_lookup(value)
    return _hash(encryption_keys()[0], normalized) if normalized else ""


def lookup_hashes(value: str) -> list[str]:
    """The hashes of ``value`` under every configured key, to match rows not yet rotated."""
    normalized = normalize_for_lookup(value)
    if not normalized:
        return []
    return [_hash(key, normalized) for key in encryption_keys()]
