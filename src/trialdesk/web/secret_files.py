"""Files that hold a secret (the server's secret key, the audit key): written once, mode 0600."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_once(path: Path, text: str) -> None:
    """Write `text` to a private file and link it into place, so concurrent first writers
    (several server workers, a command beside them) all end up reading the one file that won.

    The draft is created with O_CREAT|O_EXCL and mode 0600, so the secret is never readable by
    others, not even for a moment; `os.link` refuses to replace an existing file.
    """
    draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as draft_file:
        draft_file.write(text)
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
