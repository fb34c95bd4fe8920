"""ClinicalTrials.gov results export: one API v2 study record with its results section.

The outside references: the registry's official OpenAPI document (ctg-oas-v2.0.5.yaml, the
`Study` schema) and two real results records (NCT00763412, NCT02513394) in
../shared/reference/ctgov/, the seed protocol files read as plain YAML, and counts made here
by hand from the extract's rows and the subjects dataset.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from support.ctgov_schema import component_schemas, study_validator
from support.exchange_trial import store_home
from trialdesk.analysis.consort import consort_flow
from trialdesk.analysis.datasets import build_datasets
from trialdesk.errors import BadInput
from trialdesk.exchange.ctgov_results import analysis_datasets, write
from trialdesk.exchange.source import ExportSource, StoredBatches
from trialdesk.protocol.ctgov import export_record

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference" / "ctgov"
SCHEMA = REFERENCE / "schema" / "ctg-oas-v2.0.5.yaml"
REAL_RESULTS = [
    REFERENCE / "api-v2" / "NCT00763412.json",
    REFERENCE / "api-v2" / "NCT02513394.json",
]
PROTOCOLS = ROOT / "src" / "trialdesk" / "protocols"
DOC = ROOT / "docs" / "exchange" / "ctgov-results.md"


@pytest.fixture(scope="session")
def validate():
    return study_validator(SCHEMA)


@pytest.fixture(scope="session")
def record_file(unblinded: ExportSource, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ctgov") / f"{unblinded.protocol.id}.json"
    assert write(unblinded, out) == [out]
    return out


@pytest.fixture(scope="session")
def record(record_file: Path) -> dict[str, Any]:
    return json.loads(record_file.read_text(encoding="utf-8"))


def protocol_file(source: ExportSource) -> dict[str, Any]:
    """The seed protocol as the file says it, not as the model reads it."""
    return yaml.safe_load((PROTOCOLS / f"{source.protocol.id}.yaml").read_text(encoding="utf-8"))


def group_ids(module: dict[str, Any], source: ExportSource) -> dict[str, str]:
    """{arm id: group id} of a module, matched by the arm labels of the protocol file."""
    by_title = {group["title"]: group["id"] for group in module["groups"]}
    return {arm["id"]: by_title[arm["label"]] for arm in protocol_file(source)["arms"]}


def numbers(entries: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return {entry["groupId"]: entry[key] for entry in entries}


# ---------------------------------------------------------------- schema and structure


def test_the_record_is_valid_against_the_official_study_schema(record, unblinded, validate):
    assert validate(record) == []
    assert record["hasResults"] is True
    assert record["protocolSection"] == export_record(unblinded.protocol)["protocolSection"]
    assert set(record["resultsSection"]) >= {
        "participantFlowModule",
        "baselineCharacteristicsModule",
        "outcomeMeasuresModule",
        "adverseEventsModule",
    }


def test_the_same_validator_rejects_a_wrong_enum_and_a_wrong_type(record, validate):
    broken = copy.deepcopy(record)
    results = broken["resultsSection"]
    results["outcomeMeasuresModule"]["outcomeMeasures"][0]["type"] = "MAIN"
    results["baselineCharacteristicsModule"]["measures"][0]["paramType"] = "AVERAGE"
    results["adverseEventsModule"]["eventGroups"][0]["seriousNumAtRisk"] = "10"
    milestone = results["participantFlowModule"]["periods"][0]["milestones"][0]
    milestone["achievements"][0]["numSubjects"] = 10
    errors = validate(broken)
    assert len(errors) == 4, errors
    assert any("outcomeMeasures/0/type" in error for error in errors)
    assert any("measures/0/paramType" in error for error in errors)
    assert any("eventGroups/0/seriousNumAtRisk" in error for error in errors)
    assert any("achievements/0/numSubjects" in error for error in errors)


def key_paths(node: Any, prefix: str = "") -> set[str]:
    if isinstance(node, dict):
        paths = set()
        for key, value in node.items():
            paths |= {f"{prefix}.{key}"} | key_paths(value, f"{prefix}.{key}")
        return paths
    if isinstance(node, list):
        return {path for item in node for path in key_paths(item, f"{prefix}[]")}
    return set()


def schema_paths(definitions: dict[str, Any], name: str, prefix: str = "") -> set[str]:
    """Every property path the official schema defines under the schema `name`."""
    paths: set[str] = set()
    for key, node in definitions[name].get("properties", {}).items():
        path = f"{prefix}.{key}"
        paths.add(path)
        if node.get("type") == "array":
            node, path = node.get("items", {}), f"{path}[]"
        reference = node.get("$ref", "")
        if reference and definitions[reference.split("/")[-1]].get("properties"):
            paths |= schema_paths(definitions, reference.split("/")[-1], path)
    return paths


def test_every_field_written_is_one_the_schema_defines(record):
    # The schema allows unknown keys, so a misspelt field would still validate: look it up.
    defined = schema_paths(component_schemas(SCHEMA), "ResultsSection")
    assert key_paths(record["resultsSection"]) - defined == set()


def test_the_structure_is_that_of_real_results_records(record, unblinded):
    real = [json.loads(path.read_text(encoding="utf-8"))["resultsSection"] for path in REAL_RESULTS]
    shared = set.intersection(*(key_paths(results) for results in real))
    # Both real records report full ranges (lowerLimit, upperLimit) where these report a
    # standard deviation (spread); moreInfoModule's agreement is not in a protocol.
    left_out = {path for path in shared if path.startswith(".moreInfoModule")}
    left_out |= {path for path in shared if path.endswith(("lowerLimit", "upperLimit"))}
    assert shared - left_out - key_paths(record["resultsSection"]) == set()
    results = record["resultsSection"]
    for module, prefix, groups in (
        ("participantFlowModule", "FG", "groups"),
        ("baselineCharacteristicsModule", "BG", "groups"),
        ("adverseEventsModule", "EG", "eventGroups"),
    ):
        ids = [group["id"] for group in results[module][groups]]
        assert ids == [f"{prefix}{n:03d}" for n in range(len(ids))]
    for measure in results["outcomeMeasuresModule"]["outcomeMeasures"]:
        arms = len(unblinded.protocol.arms)
        assert [g["id"] for g in measure["groups"]] == [f"OG{n:03d}" for n in range(arms)]
    first = real[0]["participantFlowModule"]["periods"][0]["milestones"]
    mine = results["participantFlowModule"]["periods"][0]["milestones"]
    assert [m["type"] for m in first] == ["STARTED", "COMPLETED", "NOT COMPLETED"]
    assert [m["type"] for m in mine if m["type"] in ("STARTED", "COMPLETED", "NOT COMPLETED")] == [
        "STARTED",
        "COMPLETED",
        "NOT COMPLETED",
    ]


# ---------------------------------------------------------------- participant flow


def test_participant_flow_counts_equal_the_consort_flow(record, unblinded):
    subjects = build_datasets(unblinded.whole().extract, unblinded.protocol).subjects
    flow = record["resultsSection"]["participantFlowModule"]
    ids = group_ids(flow, unblinded)
    period = flow["periods"][0]
    milestones = {
        m["type"]: numbers(m["achievements"], "numSubjects") for m in period["milestones"]
    }
    reasons = {d["type"]: numbers(d["reasons"], "numSubjects") for d in period["dropWithdraws"]}
    arms = [(arm["id"], arm["label"]) for arm in protocol_file(unblinded)["arms"]]
    consort = {arm.arm: arm for arm in consort_flow(subjects, arms).arms}
    for arm, group in ids.items():
        rows = [row for row in subjects.to_dict("records") if row["arm"] == arm]
        randomized = [row for row in rows if row["randomized"]]
        completed = [row for row in randomized if row["status"] == "completed"]
        lost = [row for row in randomized if row["status"] == "lost_to_follow_up"]
        withdrawn = Counter(
            row["discontinuation_reason"] for row in randomized if row["status"] == "withdrawn"
        )
        assert milestones["STARTED"][group] == str(len(randomized))
        assert milestones["COMPLETED"][group] == str(len(completed))
        assert milestones["NOT COMPLETED"][group] == str(len(randomized) - len(completed))
        assert reasons.get("Lost to Follow-up", {}).get(group, "0") == str(len(lost))
        for reason, count in withdrawn.items():
            assert reasons[reason][group] == str(count)
        not_completed = sum(int(by_group.get(group, "0")) for by_group in reasons.values())
        assert not_completed == len(randomized) - len(completed)
        # The report's CONSORT boxes give the same numbers.
        box = consort[arm]
        assert milestones["STARTED"][group] == str(box.allocated.n)
        assert milestones["Received allocated intervention"][group] == str(box.received.n)
        assert reasons.get("Lost to Follow-up", {}).get(group, "0") == str(box.lost_to_follow_up.n)
        assert {reason: len(ids_) for reason, ids_ in box.discontinued.reasons} == dict(withdrawn)
    withdrawal_reasons = {
        row["discontinuation_reason"]
        for row in subjects.to_dict("records")
        if row["randomized"] and row["status"] == "withdrawn"
    }
    assert set(reasons) - {"Lost to Follow-up"} == withdrawal_reasons


def test_every_withdrawal_kind_the_demo_makes_is_in_the_flow(record):
    # The seeds' virtual trials lose and withdraw patients (support.exchange_trial), so the
    # comparison above is not of empty lists.
    period = record["resultsSection"]["participantFlowModule"]["periods"][0]
    assert "Lost to Follow-up" in {d["type"] for d in period["dropWithdraws"]}
    assert len(period["dropWithdraws"]) >= 2


# ---------------------------------------------------------------- baseline


def test_baseline_denominators_and_values_are_those_of_the_randomized(record, unblinded):
    module = record["resultsSection"]["baselineCharacteristicsModule"]
    ids = group_ids({"groups": module["groups"][:-1]}, unblinded)
    total = module["groups"][-1]
    assert total["title"] == "Total"
    allocated = {row["subject"]: row["arm"] for row in unblinded.whole().extract.allocations}
    by_arm = Counter(allocated.values())
    denominators = numbers(module["denoms"][0]["counts"], "value")
    assert denominators == {
        **{ids[arm]: str(by_arm[arm]) for arm in ids},
        total["id"]: str(len(allocated)),
    }
    people = {
        row["code"]: row for row in unblinded.whole().extract.subjects if row["code"] in allocated
    }
    measures = {measure["title"]: measure for measure in module["measures"]}
    ages = numbers(
        measures["Age, Continuous"]["classes"][0]["categories"][0]["measurements"], "value"
    )
    for arm, group in [*ids.items(), (None, total["id"])]:
        chosen = [p for code, p in people.items() if arm is None or allocated[code] == arm]
        assert ages[group] == f"{sum(p['age'] for p in chosen) / len(chosen):.1f}"
    sexes = measures["Sex: Female, Male"]["classes"][0]["categories"]
    for category in sexes:
        counts = numbers(category["measurements"], "value")
        for arm, group in [*ids.items(), (None, total["id"])]:
            chosen = [p for code, p in people.items() if arm is None or allocated[code] == arm]
            expected = sum(p["sex"] == category["title"].lower() for p in chosen)
            assert counts[group] == str(expected)
    countries = {site["id"]: site["country"] for site in protocol_file(unblinded)["sites"]}
    for region in measures["Region of Enrollment"]["classes"]:
        counts = numbers(region["categories"][0]["measurements"], "value")
        for arm, group in [*ids.items(), (None, total["id"])]:
            chosen = [p for code, p in people.items() if arm is None or allocated[code] == arm]
            expected = sum(countries[p["site"]] == region["title"] for p in chosen)
            assert counts[group] == str(expected)
    assert any(title.endswith("at baseline") for title in measures)


# ---------------------------------------------------------------- outcome measures


def test_time_frames_are_the_protocols_registry_text_word_for_word(record, unblinded):
    registered = {
        (outcome["kind"].upper(), outcome["measure"]): outcome["time_frame"]
        for outcome in protocol_file(unblinded)["outcomes"]
    }
    measures = record["resultsSection"]["outcomeMeasuresModule"]["outcomeMeasures"]
    assert measures
    for measure in measures:
        assert measure["timeFrame"] == registered[(measure["type"], measure["title"])]
    assert "PRIMARY" in {measure["type"] for measure in measures}


def test_outcomes_left_out_are_those_without_a_computable_measure_and_are_documented(
    record, unblinded
):
    reported = {
        m["title"] for m in record["resultsSection"]["outcomeMeasuresModule"]["outcomeMeasures"]
    }
    doc = DOC.read_text(encoding="utf-8")
    for outcome in protocol_file(unblinded)["outcomes"]:
        scored = outcome.get("instrument") and outcome.get("parameter")
        adverse = not outcome.get("instrument") and "adverse event" in outcome["measure"].lower()
        assert (outcome["measure"] in reported) == bool(scored or adverse), outcome["id"]
        if outcome["measure"] not in reported:
            assert f"`{outcome['id']}`" in doc, f"{outcome['id']} is not listed in {DOC.name}"


def least_squares_arm_effects(
    frame: pd.DataFrame, control: str, factors: list[str]
) -> dict[str, float]:
    """change ~ arm + baseline + factors by numpy's least squares, dummy coded by hand."""
    columns = [np.ones(len(frame)), frame["baseline"].to_numpy(dtype=float)]
    arms = [arm for arm in sorted(set(frame["arm"])) if arm != control]
    columns += [(frame["arm"] == arm).to_numpy(dtype=float) for arm in arms]
    for factor in factors:
        for level in sorted(set(frame[factor].astype(str)))[1:]:
            columns.append((frame[factor].astype(str) == level).to_numpy(dtype=float))
    solution, *_ = np.linalg.lstsq(np.column_stack(columns), frame["change"].to_numpy(), rcond=None)
    return {arm: float(solution[2 + index]) for index, arm in enumerate(arms)}


def test_ancova_estimates_equal_a_least_squares_fit_by_hand(record, unblinded):
    plan = protocol_file(unblinded)
    days = {visit["id"]: visit["day"] for visit in plan["visits"]}
    labels = {arm["label"]: arm["id"] for arm in plan["arms"]}
    control = next(arm["id"] for arm in plan["arms"] if arm["type"] == "PLACEBO_COMPARATOR")
    datasets = build_datasets(unblinded.whole().extract, unblinded.protocol)
    randomized = datasets.subjects[datasets.subjects["randomized"]]
    randomization = plan["randomization"]
    factors = [factor["id"] for factor in randomization["stratification_factors"]]
    factors += ["site"] if randomization.get("stratify_by_site", True) else []
    factors = [name for name in factors if randomized[name].nunique() > 1]
    checked = 0
    for outcome in plan["outcomes"]:
        if not (outcome.get("instrument") and outcome.get("parameter")):
            continue
        measure = next(
            m
            for m in record["resultsSection"]["outcomeMeasuresModule"]["outcomeMeasures"]
            if m["title"] == outcome["measure"]
        )
        last = max((v for v in outcome["visits"] if days[v] > 0), key=days.__getitem__)
        rows = datasets.outcomes
        rows = rows[
            (rows["parameter"] == f"{outcome['instrument']}.{outcome['parameter']}")
            & (rows["visit"] == last)
            & rows["change"].notna()
            & rows["subject"].isin(randomized["subject"])
        ]
        frame = rows.merge(randomized[["subject", *factors]], on="subject")
        effects = least_squares_arm_effects(frame, control, factors)
        ancova = [a for a in measure["analyses"] if a["statisticalMethod"] == "ANCOVA"]
        titles = {g["id"]: g["title"] for g in measure["groups"]}
        assert len(ancova) == len(effects)
        for analysis in ancova:
            arm = labels[titles[analysis["groupIds"][0]]]
            assert labels[titles[analysis["groupIds"][1]]] == control
            assert abs(float(analysis["paramValue"]) - effects[arm]) <= 0.005 + 1e-9
            lower, upper = float(analysis["ciLowerLimit"]), float(analysis["ciUpperLimit"])
            assert lower < float(analysis["paramValue"]) < upper
            assert analysis["ciPctValue"] == "95"
            checked += 1
        mmrm = [a for a in measure["analyses"] if a["statisticalMethod"] == "Mixed Models Analysis"]
        assert len(mmrm) == len(effects) * len([v for v in outcome["visits"] if days[v] > 0])
    assert checked > 0


def test_change_measurements_are_the_observed_means_by_visit(record, unblinded):
    plan = protocol_file(unblinded)
    visits = {visit["label"]: visit["id"] for visit in plan["visits"]}
    labels = {arm["label"]: arm["id"] for arm in plan["arms"]}
    datasets = build_datasets(unblinded.whole().extract, unblinded.protocol)
    randomized = set(datasets.subjects.loc[datasets.subjects["randomized"], "subject"])
    outcomes = {o["measure"]: o for o in plan["outcomes"]}
    for measure in record["resultsSection"]["outcomeMeasuresModule"]["outcomeMeasures"]:
        outcome = outcomes[measure["title"]]
        if measure["paramType"] != "MEAN":
            continue
        parameter = f"{outcome['instrument']}.{outcome['parameter']}"
        titles = {group["id"]: labels[group["title"]] for group in measure["groups"]}
        for visit_class in measure["classes"]:
            visit = visits[visit_class["title"]]
            for measurement in visit_class["categories"][0]["measurements"]:
                values = [
                    row["change"]
                    for row in datasets.outcomes.to_dict("records")
                    if row["parameter"] == parameter
                    and row["visit"] == visit
                    and row["arm"] == titles[measurement["groupId"]]
                    and row["subject"] in randomized
                    and not pd.isna(row["change"])
                ]
                if not values:
                    assert measurement["value"] == "NA"
                    continue
                assert measurement["value"] == f"{sum(values) / len(values):.2f}"
                assert float(measurement["spread"]) == pytest.approx(
                    float(np.std(values, ddof=1)), abs=0.005
                )
            counts = numbers(visit_class["denoms"][0]["counts"], "value")
            assert sum(int(value) for value in counts.values()) > 0


# ---------------------------------------------------------------- adverse events


def test_adverse_event_counts_equal_a_count_of_the_extract_rows(record, unblinded):
    extract = unblinded.whole().extract
    module = record["resultsSection"]["adverseEventsModule"]
    ids = group_ids({"groups": module["eventGroups"]}, unblinded)
    end_day = protocol_file(unblinded)["safety"]["ae_reporting_end_day"]
    day0 = {row["code"]: row["day0"] for row in extract.subjects}
    arm_of = {row["subject"]: row["arm"] for row in extract.allocations}
    treated = {row["subject"] for row in extract.administrations}
    counted = [
        event
        for event in extract.adverse_events
        if event["subject"] in treated
        and 0 <= (event["onset_date"] - day0[event["subject"]]).days <= end_day
    ]
    assert counted, "the virtual trial should have adverse events to count"
    groups = {group["id"]: group for group in module["eventGroups"]}
    for arm, group_id in ids.items():
        at_risk = sum(1 for subject in treated if arm_of[subject] == arm)
        mine = [event for event in counted if arm_of[event["subject"]] == arm]
        serious = {event["subject"] for event in mine if event["seriousness"]}
        other = {event["subject"] for event in mine if not event["seriousness"]}
        died = {
            event["subject"]
            for event in mine
            if event["outcome"] == "fatal"
            or event["ctcae_grade"] == 5
            or "death" in event["seriousness"]
        }
        assert groups[group_id]["seriousNumAtRisk"] == at_risk
        assert groups[group_id]["otherNumAtRisk"] == at_risk
        assert groups[group_id]["deathsNumAtRisk"] == at_risk
        assert groups[group_id]["seriousNumAffected"] == len(serious)
        assert groups[group_id]["otherNumAffected"] == len(other)
        assert groups[group_id]["deathsNumAffected"] == len(died)
    for key, is_serious in (("seriousEvents", True), ("otherEvents", False)):
        listed = {event["term"]: event for event in module.get(key, [])}
        terms = {event["term"] for event in counted if bool(event["seriousness"]) == is_serious}
        assert set(listed) == terms
        for term, entry in listed.items():
            stats = {stat["groupId"]: stat for stat in entry["stats"]}
            for arm, group_id in ids.items():
                mine = [
                    e
                    for e in counted
                    if e["term"] == term
                    and bool(e["seriousness"]) == is_serious
                    and arm_of[e["subject"]] == arm
                ]
                assert stats[group_id]["numEvents"] == len(mine)
                assert stats[group_id]["numAffected"] == len({e["subject"] for e in mine})
                for count in ("numEvents", "numAffected", "numAtRisk"):
                    assert type(stats[group_id][count]) is int


def test_adverse_events_carry_the_protocols_collection_period(record, unblinded):
    module = record["resultsSection"]["adverseEventsModule"]
    safety = protocol_file(unblinded)["safety"]
    assert f"day {safety['ae_reporting_end_day']}" in module["timeFrame"]
    start = {"consent": "informed consent", "first_administration": "first administration"}
    assert start[safety["ae_reporting_start"]] in module["timeFrame"]
    assert f"{safety['sae_reporting_hours']} hours" in module["description"]
    assert module["frequencyThreshold"] == "0"
    for event in module.get("seriousEvents", []) + module.get("otherEvents", []):
        assert event["assessmentType"] in ("SYSTEMATIC_ASSESSMENT", "NON_SYSTEMATIC_ASSESSMENT")


# ---------------------------------------------------------------- batches


def test_the_record_is_the_same_whether_the_study_is_read_in_batches_or_at_once(
    unblinded, record_file, tmp_path
):
    assert len(list(unblinded.batches())) > 1  # 7 subjects a batch (support.exchange_trial)
    one = replace(unblinded, read=StoredBatches((unblinded.whole(),)))
    out = tmp_path / "at-once.json"
    assert write(one, out) == [out]
    assert out.read_bytes() == record_file.read_bytes()


def test_the_datasets_built_batch_by_batch_are_those_of_the_whole_study(unblinded):
    """Frame for frame, types included; also from the batches in reverse order, so that the
    frames are put in `build_datasets`' order and not merely left in the batches'."""
    batches = tuple(unblinded.batches())
    assert len(batches) > 1
    for source in (unblinded, replace(unblinded, read=StoredBatches(batches[::-1]))):
        whole = build_datasets(source.whole().extract, source.protocol)
        batched = analysis_datasets(source)
        for name, frame in whole.frames().items():
            pd.testing.assert_frame_equal(batched.frames()[name], frame, check_exact=True)


# ---------------------------------------------------------------- refusals


def test_a_blinded_source_is_refused_and_nothing_is_written(blinded, tmp_path):
    out = tmp_path / "results.json"
    with pytest.raises(BadInput, match="blinded; results by arm need a reader who may see"):
        write(blinded, out)
    assert not out.exists()


def test_an_open_study_is_refused_and_nothing_is_written(unblinded, tmp_path):
    source = replace(unblinded, study={**unblinded.study, "locked": False})
    out = tmp_path / "results.json"
    with pytest.raises(BadInput, match=f"{unblinded.protocol.id}: the database is open"):
        write(source, out)
    assert not out.exists()


def test_the_command_writes_the_record_and_refuses_a_blinded_user(
    unblinded, shared_dir, tmp_path, validate
):
    # The virtual trial randomizes the patients it was made with (tests/exchange/conftest.py).
    patients = len(unblinded.whole().extract.allocations)
    home = tmp_path / "store"
    shutil.copytree(store_home(shared_dir, unblinded.protocol.id, patients), home)
    environment = {
        **os.environ,
        "TRIALDESK_HOME": str(home),
        "TRIALDESK_SECRET_KEY": "tests-only-" + "k" * 40,
        "TRIALDESK_AUDIT_KEY": "tests-only-audit-key-" + "a" * 32,
    }

    def export(user: str, out: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "trialdesk.cli", "export", unblinded.protocol.id]
            + ["--format", "ctgov-results", "--out", str(out), "--user", user, "--json"],
            env=environment,
            capture_output=True,
            text=True,
        )

    done = export("statistician", tmp_path / "results.json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["blinded"] is False
    assert validate(json.loads((tmp_path / "results.json").read_text())) == []
    refused = export("data_manager", tmp_path / "blinded.json")
    assert refused.returncode == 2
    assert "blinded" in refused.stderr + refused.stdout
    assert not (tmp_path / "blinded.json").exists()
