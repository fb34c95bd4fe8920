"""The exchange tests read locked virtual trials of both seed protocols (`support.exchange_trial`),
made once per pytest session and shared by its test processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.exchange_trial import export_sources
from trialdesk.exchange.source import ExportSource

#: Patients randomized in each virtual trial: enough for every arm, stratum and kind of event
#: the demo makes, few enough to run in well under a minute.
PATIENTS = {"NCT04208646": 30, "NCT05933434": 20}


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory every test process of this session sees (the parent of xdist's workers')."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if base.name.startswith("popen-gw") else base


@pytest.fixture(scope="session", params=sorted(PATIENTS))
def trial_sources(request: pytest.FixtureRequest, shared_dir: Path) -> dict[str, ExportSource]:
    """{reader: source} of one seed protocol's locked virtual trial (each seed in turn)."""
    return export_sources(shared_dir, request.param, PATIENTS[request.param])


@pytest.fixture(scope="session")
def unblinded(trial_sources: dict[str, ExportSource]) -> ExportSource:
    return trial_sources["statistician"]


@pytest.fixture(scope="session")
def blinded(trial_sources: dict[str, ExportSource]) -> ExportSource:
    return trial_sources["data_manager"]
