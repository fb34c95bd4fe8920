"""The audit key: the secret that keys the audit trail's hash chain, kept outside the database.

`TRIALDESK_AUDIT_KEY` gives it: 64 or more hexadecimal digits (read as the bytes they
spell, e.g. `python -c "import secrets; print(secrets.token_hex(32))"`), or otherwise any
text of at least 32 bytes (its UTF-8 bytes). Without the variable the key is the file
`audit_key` in `$TRIALDESK_HOME`, made on first need with 64 random hex digits, mode 0600
(written to a private draft and linked into place, so concurrent first writers agree on one
key). A key file readable by group or others is refused. With PostgreSQL the key file is in
`$TRIALDESK_HOME` of each host running trialdesk against that database: give every such host
the same key (the variable or a copy of the file).

The key is read once per process for each source (the variable's value, the folder).
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from functools import lru_cache
from pathlib import Path

from trialdesk.errors import BadInput
from trialdesk.web.secret_files import write_once

AUDIT_KEY_VARIABLE = "TRIALDESK_AUDIT_KEY"
AUDIT_KEY_FILE = "audit_key"
MIN_KEY_BYTES = 32
_HEX_KEY = re.compile(r"(?:[0-9a-fA-F]{2}){32,}")


def parse_audit_key(text: str, where: str) -> bytes:
    """The key bytes of a key text: hex digits (64 or more) decoded, otherwise UTF-8 text."""
    text = text.strip()
    if _HEX_KEY.fullmatch(text):
        return bytes.fromhex(text)
    key = text.encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise BadInput(
            f"{where}: the audit key is {len(key)} bytes; expected at least {MIN_KEY_BYTES} "
            "bytes of text or 64 hexadecimal digits (e.g. from secrets.token_hex(32))"
        )
    return key


def audit_key(create: bool = True) -> bytes | None:
    """The audit key of this process: the variable, else the key file in `$TRIALDESK_HOME`.

    The file is made when missing if `create` (writers need a key); verification passes
    `create=False` and gets None when there is no key, rather than a new key that matches
    nothing.
    """
    text = os.environ.get(AUDIT_KEY_VARIABLE)
    if text:
        return _key_from_variable(text)
    from django.conf import settings

    path = Path(settings.TRIALDESK_HOME) / AUDIT_KEY_FILE
    if not create and not path.exists():
        return None
    return _key_from_file(path)


def audit_key_source() -> str:
    """Where the audit key comes from, for messages."""
    if os.environ.get(AUDIT_KEY_VARIABLE):
        return AUDIT_KEY_VARIABLE
    from django.conf import settings

    return str(Path(settings.TRIALDESK_HOME) / AUDIT_KEY_FILE)


@lru_cache(maxsize=4)
def _key_from_variable(text: str) -> bytes:
    return parse_audit_key(text, AUDIT_KEY_VARIABLE)


@lru_cache(maxsize=4)
def _key_from_file(path: Path) -> bytes:
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_once(path, secrets.token_hex(MIN_KEY_BYTES) + "\n")
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise BadInput(
            f"{path}: cannot read or make the audit key ({reason}); expected a file this "
            f"user can write and read, or the key in {AUDIT_KEY_VARIABLE}"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise BadInput(
            f"{path}: the audit key file has mode {stat.S_IMODE(mode):04o}; expected 0600 "
            f"(readable by its owner only): chmod 600 {path}"
        )
    return parse_audit_key(text, str(path))
