"""Patients' contact addresses (for diary reminders), sealed so the database never holds a
direct identifier readable (DESIGN: no names, addresses or phone numbers in the database).

AES-256-GCM with a key derived from the audit key (`trialdesk.store.audit_key`, kept outside
the database): HMAC-SHA256(audit key, "trialdesk contact seal v1"). A sealed address is
`v1:` + base64 of a random 96-bit nonce and the ciphertext with its tag; the subject's code is
the associated data, so an address moved to another subject's link does not open. Whoever
holds the database alone cannot read the addresses; whoever holds the key can.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trialdesk.errors import TrialdeskError
from trialdesk.store.audit_key import audit_key

VERSION = "v1:"
NONCE_BYTES = 12


class SealBroken(TrialdeskError):
    """A sealed address that does not open with this store's key for this subject."""


def _key() -> bytes:
    key = audit_key()
    assert key is not None
    return hmac.new(key, b"trialdesk contact seal v1", hashlib.sha256).digest()


def seal(address: str, subject: str) -> str:
    """The sealed text of `address` for the subject coded `subject`; "" for no address."""
    if not address:
        return ""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(_key()).encrypt(nonce, address.encode("utf-8"), subject.encode("utf-8"))
    return VERSION + base64.b64encode(nonce + sealed).decode("ascii")


def unseal(sealed: str, subject: str) -> str:
    """The address sealed for `subject`; SealBroken if it was changed, made with another key
    or for another subject."""
    if not sealed:
        return ""
    if not sealed.startswith(VERSION):
        raise SealBroken(f"subject {subject}: the contact address is not sealed as {VERSION}")
    raw = base64.b64decode(sealed[len(VERSION) :])
    try:
        plain = AESGCM(_key()).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], subject.encode())
    except InvalidTag:
        raise SealBroken(
            f"subject {subject}: the contact address does not open with this store's key"
        ) from None
    return plain.decode("utf-8")
