"""The virtual trial (`trialdesk.store.demo`): both seed protocols from screening to database
lock on SQLite and PostgreSQL, the summary's invariants, the arms' effects in the stored forms,
the same counts from the same seed, and `trialdesk demo run`.

Each seed protocol's full enrollment runs on SQLite (half of it on PostgreSQL), nearly all of
its time in the services' transactions. The casebook signing before the lock checks the
investigator's password once per subject; Argon2 is not what is tested here, so the passwords
are hashed with MD5 in these tests (`fast_password_hashing`, tests/store/conftest.py).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from pathlib import Path
from statistics import mean
from typing import Any

import pytest
from django.db import transaction
from typer.testing import CliRunner

from trialdesk.cli import app
from trialdesk.errors import BadInput
from trialdesk.protocol import load_protocol
from trialdesk.store.demo import TrialSummary, run_virtual_trial
from trialdesk.store.models import Allocation, AuditEvent, FormRecord, Study, Subject

pytestmark = pytest.mark.usefixtures("fast_password_hashing")

KNEE_TEST = Path(__file__).parent / "protocols" / "KNEE-TEST.yaml"
TODAY = dt.date(2025, 6, 1)


def check_summary(summary: TrialSummary, protocol_id: str, patients: int) -> None:
    """What every run must show, checked against the store where it can be."""
    protocol = load_protocol(protocol_id)
    study = Study.objects.get(protocol_id=protocol.id)
    randomized = sum(summary.randomized.values())
    assert list(summary.randomized) == [arm.id for arm in protocol.arms]
    assert randomized == patients == Allocation.objects.filter(subject__study=study).count()
    assert summary.screened == Subject.objects.filter(study=study).count()
    assert summary.screened == sum(summary.screen_failures.values()) + randomized
    assert summary.in_screening == 0
    assert any(reason.startswith("ineligible: ") for reason in summary.screen_failures)
    assert summary.treated == randomized
    assert summary.completed + summary.withdrawn + summary.lost_to_follow_up == randomized
    assert summary.withdrawn > 0 and summary.lost_to_follow_up > 0 and summary.visits_missed > 0
    assert summary.deviations_automatic > 0 and summary.deviations_manual > 0
    assert summary.serious_adverse_events > 0 and summary.late_sae_reports == 1
    assert summary.forms_saved == FormRecord.objects.filter(subject__study=study).count()
    assert summary.audit_events == AuditEvent.objects.filter(study=summary.study).count()
    assert summary.audit_verified and summary.locked
    assert summary.first_screening < summary.last_visit < TODAY
    check_balance(summary, protocol_id)


def check_balance(summary: TrialSummary, protocol_id: str) -> None:
    """Each stratum is balanced up to one block (arms of equal weight), so the arms are
    balanced up to one block per stratum used."""
    protocol = load_protocol(protocol_id)
    block = max(protocol.randomization.block_sizes) // len(protocol.arms)
    strata: dict[str, Counter[str]] = defaultdict(Counter)
    allocations = Allocation.objects.filter(subject__study__protocol_id=protocol.id)
    for key, arm in allocations.values_list("slot__stratum__key", "slot__arm"):
        strata[key][arm] += 1
    for counts in strata.values():
        assert (
            max(counts[a.id] for a in protocol.arms) - min(counts[a.id] for a in protocol.arms)
            <= block
        )
    arms = summary.randomized.values()
    assert max(arms) - min(arms) <= block * len(strata)


def improvement_by_arm(protocol_id: str, form: str, score: str, better: int) -> dict[str, float]:
    """Mean improvement from the day-0 visit to the last visit, per arm (read unblinded)."""
    protocol = load_protocol(protocol_id)
    baseline = next(visit.id for visit in protocol.visits if visit.day == 0)
    last = max(protocol.visits, key=lambda visit: visit.day).id
    changes: dict[str, list[float]] = defaultdict(list)
    allocations = Allocation.objects.filter(subject__study__protocol_id=protocol.id)
    for subject, arm in allocations.values_list("subject", "slot__arm"):
        scores = dict(
            FormRecord.objects.filter(subject=subject, form=form).values_list(
                "visit__visit_id", f"scores__{score}"
            )
        )
        if last in scores:
            changes[arm].append(better * (scores[last] - scores[baseline]))
    return {arm: mean(values) for arm, values in changes.items()}


def counts(summary: TrialSummary) -> dict[str, Any]:
    """The summary without the time and the split by arm, which follows the allocation list
    the store draws itself."""
    document = summary.to_json()
    del document["elapsed_seconds"]
    document["randomized"] = sum(document["randomized"].values())
    return document


def undone(**arguments: Any) -> TrialSummary:
    """A run whose writes are rolled back afterwards, so the next run starts afresh."""
    with transaction.atomic():
        summary = run_virtual_trial(**arguments)
        transaction.set_rollback(True)
    return summary


# Committed as in use, not inside a test transaction: on PostgreSQL every write's savepoint
# in one long transaction would overflow the subtransaction cache and slow each query.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("protocol_id", "effects", "form", "score", "better"),
    [
        ("NCT04208646", {"LOW": 15, "HIGH": 30}, "womac", "total_100", -1),
        ("NCT05933434", {"MSC": 30}, "koos", "adl", 1),
    ],
)
def test_each_seed_protocol_runs_to_lock(
    django_db_setup: str,
    store_backend: str,
    protocol_id: str,
    effects: dict[str, float],
    form: str,
    score: str,
    better: int,
) -> None:
    """The full enrollment on SQLite, where the arms' effects must show in the stored forms;
    half of it on PostgreSQL (the same services and invariants, in half the suite's slowest
    test)."""
    patients = load_protocol(protocol_id).enrollment.count
    if store_backend == "postgresql":
        patients //= 2
    summary = run_virtual_trial(
        protocol_id, patients=patients, seed=1, effects=effects, today=TODAY
    )
    check_summary(summary, protocol_id, patients)
    if store_backend == "postgresql":
        return
    # Subjects' answers follow the seed, their arms the store's list: the margins are about
    # four standard errors of the difference (a subject's change has an SD of 10-14 points).
    improvement = improvement_by_arm(protocol_id, form, score, better)
    if protocol_id == "NCT04208646":
        assert improvement["HIGH"] > improvement["LOW"] > improvement["PBO"] + 5
    else:
        assert improvement["MSC"] > improvement["SALINE"] + 10


@pytest.mark.django_db
def test_the_same_seed_gives_the_same_counts(django_db_setup: str) -> None:
    arguments = {"protocol_ref": KNEE_TEST, "patients": 6, "today": TODAY}
    first = undone(seed=3, **arguments)
    assert counts(undone(seed=3, **arguments)) == counts(first)
    assert counts(undone(seed=4, **arguments)) != counts(first)


@pytest.mark.django_db
def test_an_existing_study_gets_the_demo_users_and_refuses_a_second_run(study: Any) -> None:
    summary = run_virtual_trial(KNEE_TEST, patients=6, seed=2, today=TODAY)
    assert summary.study == "KNEE-TEST v1.0" and sum(summary.randomized.values()) == 6
    roles = set(study.role_assignments.values_list("user__username", "role"))
    assert {("coordinator-02", "coordinator"), ("investigator-01", "investigator")} <= roles
    assert ("pharmacist", "pharmacist") in roles and ("colin", "coordinator") in roles
    events = AuditEvent.objects.count()
    with pytest.raises(BadInput, match="already has subjects"):
        run_virtual_trial(KNEE_TEST, patients=6, seed=2, today=TODAY)
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"patients": 0}, "patients 0: expected 1 to 80"),
        ({"patients": 81}, "patients 81: expected 1 to 80"),
        ({"effects": {"PBO": 5}}, "effect of arm 'PBO': NCT05933434 has arms MSC, SALINE"),
        ({"effects": {"MSC": 500}}, "effect of arm MSC: 500; expected WOMAC 0-100 points"),
        ({"seed": -1}, "seed -1: expected a whole number"),
        (
            {"today": dt.date(2999, 1, 1)},
            "today 2999-01-01: the virtual trial must end in the past",
        ),
    ],
)
def test_bad_arguments_are_refused_before_the_store_is_touched(
    arguments: dict[str, Any], message: str
) -> None:
    # No database fixture: any query would fail the test.
    with pytest.raises(BadInput, match=message):
        run_virtual_trial("NCT05933434", **arguments)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Any:
    """`trialdesk ...` in-process on the test database (already set up: no open_store)."""
    monkeypatch.setattr("trialdesk.store.database.open_store", lambda create=False: None)
    return lambda *args: CliRunner().invoke(app, list(args))


@pytest.mark.django_db
def test_cli_json_matches_the_store(django_db_setup: str, cli: Any) -> None:
    result = cli(
        "demo",
        "run",
        str(KNEE_TEST),
        "--patients",
        "6",
        "--seed",
        "5",
        "--json",
        "--effect",
        "CELLS=12",
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    arms = Counter(Allocation.objects.values_list("slot__arm", flat=True))
    assert document["randomized"] == {"CELLS": arms["CELLS"], "SALINE": arms["SALINE"]}
    assert document["screened"] == Subject.objects.count()
    assert document["locked"] is Study.objects.get().locked is True
    assert document["audit_verified"] is True


@pytest.mark.django_db
def test_cli_prints_a_table_for_people(django_db_setup: str, cli: Any) -> None:
    result = cli("demo", "run", str(KNEE_TEST), "--patients", "4")
    assert result.exit_code == 0, result.output
    assert "KNEE-TEST v1.0: virtual trial, seed 0" in result.stdout
    assert "verified" in result.stdout and "locked" in result.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)


@pytest.mark.parametrize(
    ("effect", "message"),
    [
        ("CELLS", "--effect 'CELLS': expected ARM=POINTS"),
        ("CELLS=lots", "--effect 'CELLS=lots': expected ARM=POINTS"),
        ("NOPE=3", "effect of arm 'NOPE': KNEE-TEST has arms CELLS, SALINE"),
    ],
)
def test_cli_bad_effect_exits_2(cli: Any, effect: str, message: str) -> None:
    result = cli("demo", "run", str(KNEE_TEST), "--effect", effect, "--json")
    assert result.exit_code == 2
    assert message in result.stderr and result.stdout == ""
