"""Analysis datasets (CDISC ADSL-, BDS- and ADAE-like) built from a plain extract of the store.

The store adapter (`trialdesk.store.extract`) reads the tables into a `StudyExtract`: one tuple
of plain dicts per table, each row with its record id. Everything here is pure: the same
extract and protocol always give the same frames, and every derived value keeps the ids of the
rows it comes from (`source_ids`, `source_id`, `baseline_source_id`, as "Model:pk").

Rows of the extract (dates are `datetime.date`, instants timezone-aware `datetime`):

- study: protocol_id, version, protocol_sha256, locked, reopened_after_lock, extracted_at
- subjects: id, code, site, status, age, sex, screened_on, day0
- status_changes: id, subject, status, reason (audit events of the subject's status, in order)
- eligibility: id, subject, verdict, criteria (list of {id, result, ...}), in order
- allocations: id, subject, randomization_number, stratum ("site=01,kl_grade=2"), arm
- administrations: id, subject, administration_id, administered_on, kit_number
- visits: id, subject, visit_id, status, actual_date, window_start, window_end
- forms: id, subject, visit_id, form, values, scores
- adverse_events: id, subject, then the declared fields (`trialdesk.records.adverse_event`):
  number, term, onset_date, end_date, ctcae_grade, seriousness (list of ICH E2A criteria),
  relatedness, expected, action_taken, outcome, awareness_at, report_due_at, reported_at
- deviations: id, subject, visit_id, kind, description, detected_on, automatic
- unblindings: id, subject, user, reason, unblinded_at
- signatures: id, subject, visit_id ("" for the casebook), signer, printed_name, meaning,
  signed_at, broken_at, broken_by (investigators' electronic signatures, broken ones too)
- patient_links: id, subject, time_zone, created_at (the links patients answer at home through)
- patient_answers: id, subject, schedule, day, item, received_at, late (what came through them)

Derivation rules the frames follow:

- Parameters are "<instrument>.<score>": every numeric score of every instrument a protocol
  outcome names (and the outcome's parameter when it is an item, not a score).
- Baseline is the last value on or before day 0: the value at the latest visit whose planned
  day is <= 0 (day 0 before screening). Change and percent change are given on post-baseline
  rows (planned day > 0) only; percent change is NaN when the baseline is 0 or missing.
- The primary parameter is the primary outcome's; when the primary outcome has no instrument
  (a safety primary such as adverse events), the first outcome that has one. Its primary visit
  is the last visit of that outcome's time frame.
- Per protocol: randomized, every administration of the treatment plan given, no deviation
  recorded by a user (the store has no major/minor grading, so every such deviation counts as
  major), and the primary visit done in its window (a value of the primary parameter there and
  the actual date inside the window; without an actual date, no deviation recorded for it).
- Diaries (one row per randomized subject and daily `patient_reported` schedule): a day is
  reported when the schedule's form record (at its visit) holds a number for the day's item,
  whether the patient sent it or site staff entered it; a day without one is missing, never 0.
  Means are of the reported days (None when no day is reported), over the schedule's first 7
  days ("week1") and over all its days ("all"). Compliance is of the entries due at extraction:
  a day reported counts answered (late when the patient's answer came after closing), a day
  not reported is missed once its window and grace are past (`trialdesk.schedule.diary`, in the
  time zone of the subject's latest link, UTC without one) and not yet due before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from trialdesk.eligibility.items import ScreeningForm, data_item_values
from trialdesk.errors import BadInput
from trialdesk.records.adverse_event import ADVERSE_EVENT
from trialdesk.schedule import screening_visit
from trialdesk.schedule.diary import EntryState, compliance, entries, entry_state

if TYPE_CHECKING:
    from trialdesk.protocol import Protocol
    from trialdesk.protocol.model import Outcome
    from trialdesk.protocol.patient_reports import PatientSchedule

Row = Mapping[str, Any]

#: Keys every row of each extract table must have.
EXTRACT_KEYS: dict[str, tuple[str, ...]] = {
    "subjects": ("id", "code", "site", "status", "age", "sex", "screened_on", "day0"),
    "status_changes": ("id", "subject", "status", "reason"),
    "eligibility": ("id", "subject", "verdict", "criteria"),
    "allocations": ("id", "subject", "randomization_number", "stratum", "arm"),
    "administrations": ("id", "subject", "administration_id", "administered_on", "kit_number"),
    "visits": ("id", "subject", "visit_id", "status", "actual_date", "window_start", "window_end"),
    "forms": ("id", "subject", "visit_id", "form", "values", "scores"),
    "adverse_events": ("id", "subject", *ADVERSE_EVENT.names),
    "deviations": ("id", "subject", "visit_id", "kind", "description", "detected_on", "automatic"),
    "unblindings": ("id", "subject", "user", "reason", "unblinded_at"),
    "signatures": (
        "id",
        "subject",
        "visit_id",
        "signer",
        "printed_name",
        "meaning",
        "signed_at",
        "broken_at",
        "broken_by",
    ),
    "patient_links": ("id", "subject", "time_zone", "created_at"),
    "patient_answers": ("id", "subject", "schedule", "day", "item", "received_at", "late"),
}
STUDY_KEYS = ("protocol_id", "version", "protocol_sha256", "locked", "reopened_after_lock")
DISCONTINUED = ("withdrawn", "lost_to_follow_up")
RELATED = frozenset({"possible", "probable", "certain"})

SUBJECT_COLUMNS = [
    "subject",
    "site",
    "status",
    "screened_on",
    "screen_failure_reason",
    "randomized",
    "randomization_number",
    "stratum",
    "arm",
    "arm_label",
    "day0",
    "treated",
    "administrations",
    "completed",
    "discontinuation",
    "discontinuation_reason",
    "age",
    "sex",
]
FLAG_COLUMNS = ["itt", "safety", "per_protocol", "analysed", "source_ids"]
OUTCOME_COLUMNS = [
    "subject",
    "arm",
    "visit",
    "visit_day",
    "parameter",
    "value",
    "baseline",
    "change",
    "percent_change",
    "is_baseline",
    "source_id",
    "baseline_source_id",
]
AE_COLUMNS = [
    "subject",
    "arm",
    "number",
    "term",
    "onset_date",
    "end_date",
    "study_day",
    "ctcae_grade",
    "serious",
    "seriousness",
    "relatedness",
    "related",
    "expected",
    "action_taken",
    "outcome",
    "report_due_at",
    "reported_at",
    "reported_late",
    "source_id",
]
DEVIATION_COLUMNS = [
    "subject",
    "arm",
    "visit",
    "kind",
    "description",
    "detected_on",
    "automatic",
    "source_id",
]
UNBLINDING_COLUMNS = ["subject", "user", "reason", "unblinded_at", "source_id"]
#: An investigator's signature of a visit ("" for the casebook) with its manifestation and,
#: once a later change broke it, when and by what.
SIGNATURE_COLUMNS = [
    "subject",
    "visit",
    "signer",
    "printed_name",
    "meaning",
    "signed_at",
    "broken_at",
    "broken_by",
    "source_id",
]
#: A subject's daily patient-reported schedule (see the module docstring): compliance of the
#: days due, and the days reported with their mean, over the first week and over all days.
DIARY_COLUMNS = [
    "subject",
    "site",
    "arm",
    "schedule",
    "days_due",
    "answered",
    "late",
    "missed",
    "compliance",
    "reported_week1",
    "reported_all",
    "mean_week1",
    "mean_all",
    "source_ids",
]
#: The days of a daily schedule's first week.
WEEK = 7


@dataclass(frozen=True)
class StudyExtract:
    """The store's tables for one study as plain rows (see the module docstring)."""

    study: Row
    subjects: tuple[Row, ...] = ()
    status_changes: tuple[Row, ...] = ()
    eligibility: tuple[Row, ...] = ()
    allocations: tuple[Row, ...] = ()
    administrations: tuple[Row, ...] = ()
    visits: tuple[Row, ...] = ()
    forms: tuple[Row, ...] = ()
    adverse_events: tuple[Row, ...] = ()
    deviations: tuple[Row, ...] = ()
    unblindings: tuple[Row, ...] = ()
    signatures: tuple[Row, ...] = ()
    patient_links: tuple[Row, ...] = ()
    patient_answers: tuple[Row, ...] = ()


@dataclass(frozen=True)
class PrimaryEndpoint:
    """What the primary analysis is of: an outcome's parameter at its last visit."""

    outcome_id: str
    measure: str
    parameter: str
    visits: tuple[str, ...]  # post-baseline visits of the time frame, in day order
    primary_visit: str
    is_primary_outcome: bool  # False when the primary outcome has no score to analyse


@dataclass(frozen=True)
class AnalysisDatasets:
    """The frames the analysis reads; `arm`/`arm_label` are None everywhere once blinded."""

    subjects: pd.DataFrame
    outcomes: pd.DataFrame
    adverse_events: pd.DataFrame
    deviations: pd.DataFrame
    unblindings: pd.DataFrame
    signatures: pd.DataFrame
    diaries: pd.DataFrame
    blinded: bool = False

    def frames(self) -> dict[str, pd.DataFrame]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "blinded"}


def source(model: str, pk: Any) -> str:
    """The lineage id of one store record, e.g. "FormRecord:345"."""
    return f"{model}:{pk}"


def check_extract(extract: StudyExtract) -> None:
    """Raise BadInput naming the table, row and key of the first malformed row."""
    missing = [key for key in STUDY_KEYS if key not in extract.study]
    if missing:
        raise BadInput(f"extract table 'study': missing key(s) {', '.join(missing)}")
    codes = set()
    for name, keys in EXTRACT_KEYS.items():
        for number, row in enumerate(getattr(extract, name), 1):
            absent = [key for key in keys if key not in row]
            if absent:
                raise BadInput(
                    f"extract table {name!r}, row {number}: missing key(s) {', '.join(absent)}; "
                    f"expected {', '.join(keys)}"
                )
            if name == "subjects":
                codes.add(row["code"])
            elif row["subject"] not in codes:
                raise BadInput(
                    f"extract table {name!r}, row {number}: subject {row['subject']!r} is not "
                    "in the subjects table"
                )


def _check_visits(extract: StudyExtract, protocol: Protocol) -> None:
    """Forms and visits belong to the protocol's visits (the store's services ensure it)."""
    known = {visit.id for visit in protocol.visits}
    for name in ("visits", "forms"):
        for number, row in enumerate(getattr(extract, name), 1):
            if row["visit_id"] not in known:
                raise BadInput(
                    f"extract table {name!r}, row {number}: subject {row['subject']}, visit "
                    f"{row['visit_id']!r} is not a visit of {protocol.id} "
                    f"({', '.join(sorted(known))})"
                )


def outcome_instruments(protocol: Protocol) -> list[str]:
    """Instruments named by the protocol's outcomes, in outcome order."""
    return list(dict.fromkeys(o.instrument for o in protocol.outcomes if o.instrument))


def parameter_of(outcome: Outcome) -> str | None:
    """The analysis parameter of an outcome: "<instrument>.<parameter>", else None."""
    if outcome.instrument is None or outcome.parameter is None:
        return None
    return f"{outcome.instrument}.{outcome.parameter}"


def primary_endpoint(protocol: Protocol) -> PrimaryEndpoint | None:
    """The primary outcome's parameter, else the first outcome's that has one (see module)."""
    ordered = sorted(protocol.outcomes, key=lambda o: o.kind != "primary")
    days = {visit.id: visit.day for visit in protocol.visits}
    for outcome in ordered:
        parameter = parameter_of(outcome)
        later = sorted((v for v in outcome.visits if days[v] > 0), key=days.__getitem__)
        if parameter is None or not later:
            continue
        return PrimaryEndpoint(
            outcome_id=outcome.id,
            measure=outcome.measure,
            parameter=parameter,
            visits=tuple(later),
            primary_visit=later[-1],
            is_primary_outcome=outcome.kind == "primary",
        )
    return None


def build_datasets(extract: StudyExtract, protocol: Protocol) -> AnalysisDatasets:
    """The subjects, outcomes, adverse-event, deviation, unblinding, signature and diary
    frames, with arms (the signatures have none)."""
    check_extract(extract)
    _check_visits(extract, protocol)
    allocations = {row["subject"]: row for row in extract.allocations}
    outcomes = _outcomes(extract, protocol, allocations)
    subjects = _subjects(extract, protocol, allocations, outcomes)
    arms = dict(zip(subjects["subject"], subjects["arm"], strict=True))
    return AnalysisDatasets(
        subjects=subjects,
        outcomes=outcomes,
        adverse_events=_adverse_events(extract, arms),
        deviations=_deviations(extract, arms),
        unblindings=_frame(
            [
                {
                    "subject": row["subject"],
                    "user": row["user"],
                    "reason": row["reason"],
                    "unblinded_at": row["unblinded_at"],
                    "source_id": source("UnblindingEvent", row["id"]),
                }
                for row in extract.unblindings
            ],
            UNBLINDING_COLUMNS,
        ),
        signatures=_frame(
            [
                {
                    "subject": row["subject"],
                    "visit": row["visit_id"],
                    "signer": row["signer"],
                    "printed_name": row["printed_name"],
                    "meaning": row["meaning"],
                    "signed_at": row["signed_at"],
                    "broken_at": row["broken_at"],
                    "broken_by": row["broken_by"],
                    "source_id": source("Signature", row["id"]),
                }
                for row in extract.signatures
            ],
            SIGNATURE_COLUMNS,
        ),
        diaries=_diaries(extract, protocol, subjects),
    )


def blind(datasets: AnalysisDatasets) -> AnalysisDatasets:
    """Copies with every `arm` and `arm_label` set to None."""
    blinded = {}
    for name, frame in datasets.frames().items():
        frame = frame.copy()
        for column in ("arm", "arm_label"):
            if column in frame.columns:
                frame[column] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        blinded[name] = frame
    return replace(datasets, **blinded, blinded=True)


def canonical_csv(frame: pd.DataFrame) -> str:
    """One text per frame: its columns and rows as built, "\\n" line ends, ISO dates."""
    return frame.to_csv(index=False, lineterminator="\n", float_format="%.10g")


def canonical_csvs(datasets: AnalysisDatasets) -> dict[str, str]:
    """Every frame's canonical CSV by frame name, in the fixed order of `frames()`."""
    return {name: canonical_csv(frame) for name, frame in datasets.frames().items()}


def datasets_sha256(datasets: AnalysisDatasets) -> str:
    """SHA-256 over every frame's name and canonical CSV, in a fixed order."""
    return csvs_sha256(canonical_csvs(datasets))


def csvs_sha256(csvs: Mapping[str, str]) -> str:
    """`datasets_sha256` from the texts that `canonical_csvs` gives."""
    digest = hashlib.sha256()
    for name, text in csvs.items():
        digest.update(f"{name}\n".encode())
        digest.update(text.encode("utf-8"))
    return digest.hexdigest()


# ---------------------------------------------------------------- outcomes (BDS-like)


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _outcomes(
    extract: StudyExtract, protocol: Protocol, allocations: Mapping[str, Row]
) -> pd.DataFrame:
    instruments = set(outcome_instruments(protocol))
    named_items = {
        (o.instrument, o.parameter) for o in protocol.outcomes if o.instrument and o.parameter
    }
    days = {visit.id: visit.day for visit in protocol.visits}
    rows = []
    for record in extract.forms:
        form = record["form"]
        if record["subject"] not in allocations or form not in instruments:
            continue
        values = {k: v for k, v in record["scores"].items() if _numeric(v)}
        for instrument, item in named_items:
            if instrument == form and item not in values and _numeric(record["values"].get(item)):
                values[item] = record["values"][item]
        for name, value in values.items():
            rows.append(
                {
                    "subject": record["subject"],
                    "arm": allocations[record["subject"]]["arm"],
                    "visit": record["visit_id"],
                    "visit_day": days[record["visit_id"]],
                    "parameter": f"{form}.{name}",
                    "value": float(value),
                    "source_id": source("FormRecord", record["id"]),
                }
            )
    if not rows:
        return _frame([], OUTCOME_COLUMNS)
    frame = pd.DataFrame(rows).sort_values(["subject", "parameter", "visit_day"], kind="stable")
    frame = frame.reset_index(drop=True)
    before = frame[frame["visit_day"] <= 0]
    baselines = before.groupby(["subject", "parameter"], sort=False).tail(1)
    frame["is_baseline"] = frame.index.isin(baselines.index)
    keyed = baselines.set_index(["subject", "parameter"])
    keys = pd.MultiIndex.from_frame(frame[["subject", "parameter"]])
    frame["baseline"] = keyed["value"].reindex(keys).to_numpy(dtype=float)
    frame["baseline_source_id"] = _texts(
        pd.Series(keyed["source_id"].reindex(keys).to_numpy(dtype=object), index=frame.index)
    )
    post = frame["visit_day"] > 0
    change = np.where(post, frame["value"] - frame["baseline"], np.nan)
    frame["change"] = change
    with np.errstate(divide="ignore", invalid="ignore"):
        percent = np.where(frame["baseline"] != 0, 100.0 * change / frame["baseline"], np.nan)
    frame["percent_change"] = percent
    for column in ("subject", "arm", "visit", "parameter", "source_id"):
        frame[column] = _texts(frame[column])
    return frame[OUTCOME_COLUMNS]


# ---------------------------------------------------------------- subjects (ADSL-like)


def _by_subject(rows: Sequence[Row]) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row["subject"], []).append(row)
    return grouped


def _last_reason(changes: list[Row], status: str) -> tuple[str | None, str | None]:
    """The reason and event id of the last change of the subject's status to `status`."""
    for row in reversed(changes):
        if row["status"] == status:
            return (row["reason"] or None), source("AuditEvent", row["id"])
    return None, None


def _screen_failure(
    status: str, records: list[Row], changes: list[Row]
) -> tuple[str | None, list[str]]:
    """Failed criteria ids of an ineligible verdict, else the reason given at the step."""
    if status != "screen_failed":
        return None, []
    if records and records[-1]["verdict"] == "ineligible":
        failed = [c["id"] for c in records[-1]["criteria"] if c.get("result") == "fail"]
        # The eligibility service's wording of the same verdict.
        reason = "criteria " + ", ".join(failed)
        return reason, [source("EligibilityRecord", records[-1]["id"])]
    reason, event = _last_reason(changes, status)
    return reason, [event] if event else []


def _screening_values(
    protocol: Protocol, forms: list[Row], visit_id: str, subject: Row
) -> tuple[dict[str, Any], list[str]]:
    """Data item values from the screening forms (at visit `visit_id`) and the subject
    record, as the eligibility engine reads them; with the form records used."""
    by_form = {row["form"]: row for row in forms if row["visit_id"] == visit_id}
    screening = {form: ScreeningForm(row["values"], row["scores"]) for form, row in by_form.items()}
    values = data_item_values(protocol, screening, subject["age"], subject["sex"])
    read = {item.form for item in protocol.data_items if item.form and item.id in values}
    used = [source("FormRecord", by_form[form]["id"]) for form in sorted(read)]
    return values, used


def _stratum_levels(key: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in key.split(",") if "=" in part)


def _primary_visit_in_window(
    endpoint: PrimaryEndpoint | None, visits: list[Row], deviations: list[Row], measured: bool
) -> bool:
    """The primary visit took place with the primary parameter measured, inside its window."""
    if endpoint is None:
        return False
    visit = next((v for v in visits if v["visit_id"] == endpoint.primary_visit), None)
    if visit is None or not measured or visit["status"] == "missed":
        return False
    actual, start, end = visit["actual_date"], visit["window_start"], visit["window_end"]
    if actual is not None and start is not None and end is not None:
        return start <= actual <= end
    return not any(d["visit_id"] == endpoint.primary_visit for d in deviations)


def _subjects(
    extract: StudyExtract,
    protocol: Protocol,
    allocations: Mapping[str, Row],
    outcomes: pd.DataFrame,
) -> pd.DataFrame:
    labels = {arm.id: arm.label for arm in protocol.arms}
    factors = protocol.randomization.stratification_factors if protocol.randomization else []
    screening = screening_visit(protocol).id
    endpoint = primary_endpoint(protocol)
    plan_size = len(protocol.treatment_plan)
    changes = _by_subject(extract.status_changes)
    eligibility = _by_subject(extract.eligibility)
    administrations = _by_subject(extract.administrations)
    visits = _by_subject(extract.visits)
    forms = _by_subject(extract.forms)
    deviations = _by_subject(extract.deviations)
    with_post_baseline: set[str] = set()
    measured_at_primary_visit: set[str] = set()
    if endpoint is not None:
        primary = outcomes[
            (outcomes["parameter"] == endpoint.parameter) & outcomes["value"].notna()
        ]
        with_post_baseline = set(primary.loc[primary["visit_day"] > 0, "subject"])
        at_visit = primary["visit"] == endpoint.primary_visit
        measured_at_primary_visit = set(primary.loc[at_visit, "subject"])
    item_columns = [item.id for item in protocol.data_items if item.id not in ("age", "sex")]
    factor_columns = [f.id for f in factors if f.id not in item_columns]
    rows = []
    for subject in sorted(extract.subjects, key=lambda s: (s["site"], s["code"])):
        code, status = subject["code"], subject["status"]
        allocation = allocations.get(code)
        given = administrations.get(code, [])
        subject_changes = changes.get(code, [])
        failure, failure_ids = _screen_failure(status, eligibility.get(code, []), subject_changes)
        reason, reason_id = (
            _last_reason(subject_changes, status) if status in DISCONTINUED else (None, None)
        )
        items, item_ids = _screening_values(protocol, forms.get(code, []), screening, subject)
        levels = _stratum_levels(allocation["stratum"]) if allocation else {}
        recorded_deviations = [d for d in deviations.get(code, []) if not d["automatic"]]
        itt = allocation is not None
        analysed = itt and code in with_post_baseline
        per_protocol = (
            itt
            and len(given) == plan_size
            and not recorded_deviations
            and _primary_visit_in_window(
                endpoint,
                visits.get(code, []),
                deviations.get(code, []),
                code in measured_at_primary_visit,
            )
        )
        row = {
            "subject": code,
            "site": subject["site"],
            "status": status,
            "screened_on": subject["screened_on"],
            "screen_failure_reason": failure,
            "randomized": itt,
            "randomization_number": allocation["randomization_number"] if allocation else None,
            "stratum": allocation["stratum"] if allocation else None,
            "arm": allocation["arm"] if allocation else None,
            "arm_label": labels.get(allocation["arm"]) if allocation else None,
            "day0": subject["day0"],
            "treated": bool(given),
            "administrations": len(given),
            "completed": status == "completed",
            "discontinuation": status if status in DISCONTINUED else None,
            "discontinuation_reason": reason,
            "age": subject["age"],
            "sex": subject["sex"],
        }
        for factor in factors:
            value = levels.get(factor.id)
            if value is None and items.get(factor.item) is not None:
                value = str(items[factor.item])
            row[factor.id] = value
        for column in item_columns:
            row[column] = items.get(column)
        row |= {
            "itt": itt,
            "safety": bool(given),
            "per_protocol": bool(per_protocol),
            "analysed": analysed,
        }
        lineage = [source("Subject", subject["id"])]
        if allocation:
            lineage.append(source("Allocation", allocation["id"]))
        lineage += [source("Kit", kit["id"]) for kit in given]
        lineage += failure_ids + ([reason_id] if reason_id else []) + item_ids
        row["source_ids"] = ";".join(dict.fromkeys(lineage))
        rows.append(row)
    columns = SUBJECT_COLUMNS + factor_columns + item_columns + FLAG_COLUMNS
    return _frame(rows, columns)


# ---------------------------------------------------------------- diaries


def _diaries(extract: StudyExtract, protocol: Protocol, subjects: pd.DataFrame) -> pd.DataFrame:
    schedules = [s for s in protocol.patient_reported if s.kind == "daily"]
    if not schedules:
        return _frame([], DIARY_COLUMNS)
    day0 = {row["code"]: row["day0"] for row in extract.subjects}
    zones: dict[str, str] = {}
    for link in sorted(extract.patient_links, key=lambda row: (row["created_at"], row["id"])):
        zones[link["subject"]] = link["time_zone"]  # the latest link's
    answers = _by_subject(extract.patient_answers)
    forms = {(row["subject"], row["visit_id"], row["form"]): row for row in extract.forms}
    randomized = subjects.loc[subjects["randomized"].astype(bool)]
    rows = []
    for schedule in schedules:
        for code, site, arm in zip(
            randomized["subject"], randomized["site"], randomized["arm"], strict=True
        ):
            record = forms.get((code, schedule.visit, schedule.form))
            sent = [a for a in answers.get(code, []) if a["schedule"] == schedule.id]
            rows.append(
                _diary_row(
                    schedule,
                    code,
                    site,
                    arm,
                    record,
                    sent,
                    day0.get(code),
                    zones.get(code, "UTC"),
                    extract.study.get("extracted_at"),
                )
            )
    return _frame(rows, DIARY_COLUMNS)


def _diary_row(
    schedule: PatientSchedule,
    code: str,
    site: str,
    arm: Any,
    record: Row | None,
    sent: list[Row],
    day0: dt.date | None,
    zone: str,
    extracted_at: dt.datetime | None,
) -> dict[str, Any]:
    from zoneinfo import ZoneInfo

    values = record["values"] if record else {}
    reported = {
        day: float(values[schedule.item_of_day(day)])
        for day in schedule.days
        if _numeric(values.get(schedule.item_of_day(day)))
    }
    late_days = {a["day"] for a in sent if a["late"] and a["day"] in reported}
    windows = {e.day: e for e in entries(schedule, day0, ZoneInfo(zone))} if day0 else {}
    states = []
    for day in schedule.days:
        if day in reported:
            states.append(EntryState.LATE if day in late_days else EntryState.ANSWERED)
        elif day in windows and extracted_at is not None:
            states.append(entry_state(windows[day], None, extracted_at))
    counts = compliance(states)
    week = [v for d, v in reported.items() if d < schedule.first_day + WEEK]
    lineage = ([source("FormRecord", record["id"])] if record else []) + [
        source("PatientAnswer", a["id"]) for a in sorted(sent, key=lambda a: a["id"])
    ]
    return {
        "subject": code,
        "site": site,
        "arm": arm,
        "schedule": schedule.id,
        "days_due": counts.due,
        "answered": counts.answered,
        "late": counts.late,
        "missed": counts.missed,
        "compliance": counts.share,
        "reported_week1": len(week),
        "reported_all": len(reported),
        "mean_week1": sum(week) / len(week) if week else None,
        "mean_all": sum(reported.values()) / len(reported) if reported else None,
        "source_ids": ";".join(lineage),
    }


# ---------------------------------------------------------------- events


def _adverse_events(extract: StudyExtract, arms: Mapping[str, Any]) -> pd.DataFrame:
    day0 = {s["code"]: s["day0"] for s in extract.subjects}
    extracted_at = extract.study.get("extracted_at")
    rows = []
    for event in sorted(extract.adverse_events, key=lambda e: (e["subject"], e["number"])):
        serious = bool(event["seriousness"])
        due, reported = event["report_due_at"], event["reported_at"]
        late = bool(
            serious
            and due is not None
            and (
                (reported is not None and reported > due)
                or (reported is None and extracted_at is not None and extracted_at > due)
            )
        )
        start = day0.get(event["subject"])
        rows.append(
            {
                "subject": event["subject"],
                "arm": arms.get(event["subject"]),
                "number": event["number"],
                "term": event["term"],
                "onset_date": event["onset_date"],
                "end_date": event["end_date"],
                "study_day": (event["onset_date"] - start).days if start else None,
                "ctcae_grade": event["ctcae_grade"],
                "serious": serious,
                "seriousness": ", ".join(event["seriousness"]),
                "relatedness": event["relatedness"],
                "related": event["relatedness"] in RELATED,
                "expected": event["expected"],
                "action_taken": event["action_taken"],
                "outcome": event["outcome"],
                "report_due_at": due,
                "reported_at": reported,
                "reported_late": late,
                "source_id": source("AdverseEvent", event["id"]),
            }
        )
    frame = _frame(rows, AE_COLUMNS)
    frame["study_day"] = frame["study_day"].astype("Int64")
    return frame


def _deviations(extract: StudyExtract, arms: Mapping[str, Any]) -> pd.DataFrame:
    rows = [
        {
            "subject": row["subject"],
            "arm": arms.get(row["subject"]),
            "visit": row["visit_id"],
            "kind": row["kind"],
            "description": row["description"],
            "detected_on": row["detected_on"],
            "automatic": bool(row["automatic"]),
            "source_id": source("Deviation", row["id"]),
        }
        for row in sorted(extract.deviations, key=lambda d: (d["subject"], d["detected_on"]))
    ]
    return _frame(rows, DEVIATION_COLUMNS)


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """A frame with exactly `columns`; text columns keep None for a missing value (object
    dtype), as the agreed datasets say "str or None"."""
    frame = pd.DataFrame(rows, columns=columns)
    for column in columns:
        if pd.api.types.is_string_dtype(frame[column]) or column in ("arm", "arm_label"):
            frame[column] = _texts(frame[column])
    return frame


def _texts(series: pd.Series) -> pd.Series:
    return pd.Series(
        [None if pd.isna(value) else value for value in series], index=series.index, dtype=object
    )
