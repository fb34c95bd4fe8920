"""A locked virtual trial of a seed protocol, read as an `ExportSource`, for the exchange tests.

The trial runs in a child process (`trialdesk demo run` on a SQLite store in a temporary
directory), so the core's tests never set up Django; the sources are pickled there and read
here. One run per protocol and size is shared by every test process of a pytest session:
the first process makes it under a file lock, the others wait for it and read the pickle.
`store_home(...)` gives the store itself, for tests that run `trialdesk export` on it.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

from filelock import FileLock

from trialdesk.exchange.source import ExportSource

#: The readers whose sources are pickled: the statistician reads arms after the lock; the data
#: manager stays blinded.
UNBLINDED_READER = "statistician"
BLINDED_READER = "data_manager"


def _environment(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TRIALDESK_HOME": str(home),
        "TRIALDESK_SECRET_KEY": "tests-only-" + "k" * 40,
        "TRIALDESK_AUDIT_KEY": "tests-only-audit-key-" + "a" * 32,
    }


def store_home(shared: Path, protocol_id: str, patients: int, seed: int = 1) -> Path:
    """The store of a locked virtual trial of `protocol_id` under `shared` (made once)."""
    home = shared / f"exchange-{protocol_id}-{patients}-{seed}"
    with FileLock(str(home) + ".lock"):
        if not (home / "sources.pickle").exists():
            home.mkdir(parents=True, exist_ok=True)
            environment = _environment(home)
            run = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "trialdesk.cli",
                    "demo",
                    "run",
                    protocol_id,
                    "--seed",
                    str(seed),
                    "--patients",
                    str(patients),
                ],
                env=environment,
                capture_output=True,
                text=True,
            )
            if run.returncode != 0:
                raise RuntimeError(f"demo run {protocol_id} failed: {run.stderr[-3000:]}")
            read = subprocess.run(
                [sys.executable, __file__, protocol_id, str(home / "sources.pickle")],
                env=environment,
                capture_output=True,
                text=True,
            )
            if read.returncode != 0:
                raise RuntimeError(f"reading {protocol_id} failed: {read.stderr[-3000:]}")
    return home


def export_sources(shared: Path, protocol_id: str, patients: int) -> dict[str, ExportSource]:
    """{reader: ExportSource} of the locked virtual trial, for UNBLINDED_READER and
    BLINDED_READER."""
    home = store_home(shared, protocol_id, patients)
    return pickle.loads((home / "sources.pickle").read_bytes())


def _read(protocol_id: str, out: str) -> None:
    from trialdesk.store.database import open_store

    open_store()
    from trialdesk.store.access import access_for
    from trialdesk.store.export_feed import export_source
    from trialdesk.store.models import Study, StudyUser

    study = Study.objects.get(protocol_id=protocol_id)
    sources = {
        reader: export_source(
            access_for(study, StudyUser.objects.get(username=reader)), batch_subjects=7
        ).in_memory()
        for reader in (UNBLINDED_READER, BLINDED_READER)
    }
    assert not sources[UNBLINDED_READER].blinded and sources[BLINDED_READER].blinded
    Path(out).write_bytes(pickle.dumps(sources))


if __name__ == "__main__":
    _read(sys.argv[1], sys.argv[2])
