"""Trial design domains from the protocol: TS, TE, TA, TV and TI.

Elements (TE): SCRN (screening, from consent to the first administration), one treatment
element per arm (ETCD = the arm id, from the first administration through the day of the
last planned one), and FU (follow-up, to the last visit). TA gives each arm the path
SCRN -> its treatment element -> FU with the epochs SCREENING, TREATMENT, FOLLOW-UP; TV one
row per protocol visit for every arm (ARMCD null: the schedule is the same in each arm) with
its planned study day. The arms are the protocol's (public in the registry), so they are
written to blinded exports too: nothing here links a subject to an arm.

TS writes the parameters the protocol states (title, registry id, sponsor, indications,
phase, type, blinding, randomization, model, control, arms, planned and actual subjects, ages,
sex, healthy volunteers, intervention types, route, SDTMIG version), coded values with their
CDISC C-code (TSVCDREF CDISC, TSVCDVER the CT release) and ages as ISO 8601 durations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

from trialdesk.exchange.sdtm.common import DOMAIN, EPOCH, STUDYID, VISIT, VISITNUM
from trialdesk.exchange.sdtm.domain import Domain, Row, Variable, text
from trialdesk.exchange.sdtm.tabulation import (
    FOLLOW_UP,
    SCREENING,
    TREATMENT,
    Tabulation,
    study_day,
)
from trialdesk.exchange.sdtm.terminology import CT_VERSION, codelists, term_code

SDTMIG_VERSION = "3.4"
SCREENING_ELEMENT, FOLLOW_UP_ELEMENT = "SCRN", "FU"


def _protocol(
    name: str,
    label: str,
    kind: str,
    role: str,
    core: str,
    length: int = 200,
    codelist: str | None = None,
    sponsor: bool = False,
) -> Variable:
    return Variable(
        name,
        label,
        kind,
        role,
        core,
        length,
        codelist,  # type: ignore[arg-type]
        sponsor_codelist=sponsor,
        origin="Protocol",
    )


ARMCD = _protocol("ARMCD", "Planned Arm Code", "text", "Topic", "Req", 20, sponsor=True)
ARM = _protocol(
    "ARM", "Description of Planned Arm", "text", "Synonym Qualifier", "Req", sponsor=True
)
ETCD = _protocol("ETCD", "Element Code", "text", "Topic", "Req", 8, sponsor=True)
ELEMENT = _protocol("ELEMENT", "Description of Element", "text", "Synonym Qualifier", "Req")
DESIGN_DOMAIN = (STUDYID, DOMAIN)


def _elements(tabulation: Tabulation) -> list[Row]:
    protocol = tabulation.protocol
    treatment_days = tabulation.last_administration_day + 1
    span = f"{treatment_days} day{'s' if treatment_days > 1 else ''} after the first administration"
    screening_days = -tabulation.visits[0].first_day if tabulation.visits[0].day < 0 else 0
    last_visit = tabulation.visits[-1]
    elements = [
        {
            "ETCD": SCREENING_ELEMENT,
            "ELEMENT": "Screening",
            "TESTRL": "Informed consent",
            "TEENRL": "First administration of study treatment (protocol day 0)",
            "TEDUR": f"P{screening_days}D" if screening_days else "",
        }
    ]
    for arm in protocol.arms:
        elements.append(
            {
                "ETCD": arm.id[:8],
                "ELEMENT": text(arm.label),
                "TESTRL": text(f"First administration of study treatment, arm {arm.label}"),
                "TEENRL": span,
                "TEDUR": f"P{treatment_days}D",
            }
        )
    elements.append(
        {
            "ETCD": FOLLOW_UP_ELEMENT,
            "ELEMENT": "Follow-up",
            "TESTRL": span,
            "TEENRL": text(
                f"End of the last visit, {last_visit.label} (study day {study_day(last_visit.day)})"
            ),
            "TEDUR": "",
        }
    )
    return elements


TE_VARIABLES = (
    *DESIGN_DOMAIN,
    ETCD,
    ELEMENT,
    _protocol("TESTRL", "Rule for Start of Element", "text", "Rule", "Req"),
    _protocol("TEENRL", "Rule for End of Element", "text", "Rule", "Perm"),
    _protocol("TEDUR", "Planned Duration of Element", "text", "Timing", "Perm", 20),
)


def te_rows(tabulation: Tabulation) -> Iterator[Row]:
    for element in _elements(tabulation):
        yield {"STUDYID": tabulation.studyid, "DOMAIN": "TE", **element}


TA_VARIABLES = (
    *DESIGN_DOMAIN,
    ARMCD,
    ARM,
    _protocol("TAETORD", "Planned Order of Element within Arm", "integer", "Timing", "Req"),
    ETCD,
    ELEMENT,
    _protocol("TABRANCH", "Branch", "text", "Rule", "Exp"),
    _protocol("TATRANS", "Transition Rule", "text", "Rule", "Exp"),
    EPOCH,
)


def ta_rows(tabulation: Tabulation) -> Iterator[Row]:
    elements = {element["ETCD"]: element["ELEMENT"] for element in _elements(tabulation)}
    for arm in tabulation.protocol.arms:
        path = (
            (SCREENING_ELEMENT, SCREENING, text(f"Randomized to {arm.label}")),
            (arm.id[:8], TREATMENT, ""),
            (FOLLOW_UP_ELEMENT, FOLLOW_UP, ""),
        )
        for order, (etcd, epoch, branch) in enumerate(path, start=1):
            yield {
                "STUDYID": tabulation.studyid,
                "DOMAIN": "TA",
                "ARMCD": arm.id,
                "ARM": text(arm.label),
                "TAETORD": order,
                "ETCD": etcd,
                "ELEMENT": elements[etcd],
                "TABRANCH": branch,
                "TATRANS": "",
                "EPOCH": epoch,
            }


TV_VARIABLES = (
    *DESIGN_DOMAIN,
    VISITNUM,
    VISIT,
    _protocol("VISITDY", "Planned Study Day of Visit", "integer", "Timing", "Perm"),
    replace(ARMCD, core="Exp"),
    _protocol("TVSTRL", "Visit Start Rule", "text", "Rule", "Req"),
    _protocol("TVENRL", "Visit End Rule", "text", "Rule", "Perm"),
)


def tv_rows(tabulation: Tabulation) -> Iterator[Row]:
    for visit in tabulation.visits:
        day = study_day(visit.day)
        yield {
            "STUDYID": tabulation.studyid,
            "DOMAIN": "TV",
            "VISITNUM": tabulation.visitnum[visit.id],
            "VISIT": visit.label,
            "VISITDY": day,
            "ARMCD": "",
            "TVSTRL": text(
                f"Study day {day}, from {visit.window_before} days before to "
                f"{visit.window_after} days after"
            ),
            "TVENRL": "End of the visit",
        }


TI_VARIABLES = (
    *DESIGN_DOMAIN,
    _protocol(
        "IETESTCD", "Incl/Excl Criterion Short Name", "text", "Topic", "Req", 8, sponsor=True
    ),
    _protocol("IETEST", "Inclusion/Exclusion Criterion", "text", "Synonym Qualifier", "Req"),
    _protocol(
        "IECAT", "Inclusion/Exclusion Category", "text", "Grouping Qualifier", "Req", 10, "IECAT"
    ),
    _protocol("TIVERS", "Protocol Criteria Versions", "text", "Record Qualifier", "Perm", 20),
)


def ti_rows(tabulation: Tabulation) -> Iterator[Row]:
    for criterion in tabulation.protocol.eligibility.criteria:
        yield {
            "STUDYID": tabulation.studyid,
            "DOMAIN": "TI",
            "IETESTCD": criterion.id,
            "IETEST": text(criterion.text),
            "IECAT": criterion.type.upper(),
            "TIVERS": tabulation.protocol.version,
        }


TS_VARIABLES = (
    *DESIGN_DOMAIN,
    Variable("TSSEQ", "Sequence Number", "integer", "Identifier", "Req", origin="Derived"),
    _protocol("TSGRPID", "Group ID", "text", "Identifier", "Perm", 20),
    _protocol(
        "TSPARMCD", "Trial Summary Parameter Short Name", "text", "Topic", "Req", 8, "TSPARMCD"
    ),
    _protocol(
        "TSPARM", "Trial Summary Parameter", "text", "Synonym Qualifier", "Req", 40, "TSPARM"
    ),
    _protocol("TSVAL", "Parameter Value", "text", "Result Qualifier", "Exp"),
    _protocol("TSVALNF", "Parameter Null Flavor", "text", "Result Qualifier", "Perm", 8),
    _protocol("TSVALCD", "Parameter Value Code", "text", "Result Qualifier", "Exp", 20),
    _protocol(
        "TSVCDREF", "Name of the Reference Terminology", "text", "Result Qualifier", "Exp", 40
    ),
    _protocol(
        "TSVCDVER", "Version of the Reference Terminology", "text", "Result Qualifier", "Exp", 20
    ),
)

#: TS parameters whose values are CDISC terms -> their codelist.
TS_VALUE_CODELISTS = {
    "TPHASE": "TPHASE",
    "STYPE": "STYPE",
    "RANDOM": "NY",
    "TBLIND": "TBLIND",
    "INTMODEL": "INTMODEL",
    "TCNTRL": "TCNTRL",
    "TINDTP": "TINDTP",
    "TTYPE": "TTYPE",
    "SEXPOP": "SEXPOP",
    "HLTSUBJI": "NY",
    "INTTYPE": "INTTYPE",
    "ROUTE": "ROUTE",
}
PHASES = {
    ("PHASE1",): "PHASE I TRIAL",
    ("PHASE1", "PHASE2"): "PHASE I/II TRIAL",
    ("PHASE2",): "PHASE II TRIAL",
    ("PHASE2", "PHASE3"): "PHASE II/III TRIAL",
    ("PHASE3",): "PHASE III TRIAL",
    ("PHASE4",): "PHASE IV TRIAL",
    ("NA",): "NOT APPLICABLE",
}
BLINDING = {"NONE": "OPEN LABEL", "SINGLE": "SINGLE BLIND"}  # DOUBLE, TRIPLE, QUADRUPLE: DOUBLE
INTERVENTION_TYPES = {
    "BIOLOGICAL": "BIOLOGIC",
    "DRUG": "DRUG",
    "PROCEDURE": "PROCEDURE",
    "DEVICE": "DEVICE",
}
MODELS = {"PARALLEL": "PARALLEL", "SINGLE_GROUP": "SINGLE GROUP", "FACTORIAL": "FACTORIAL"}
SEXES = {"ALL": "BOTH", "FEMALE": "F", "MALE": "M"}


def _iso_age(age: str | None) -> str:
    match = re.fullmatch(r"([0-9]+) (Year|Month|Week|Day|Hour)s?", age or "")
    if match is None:
        return ""
    unit = {"Year": "Y", "Month": "M", "Week": "W", "Day": "D"}.get(match.group(2))
    return f"P{match.group(1)}{unit}" if unit else f"PT{match.group(1)}H"


def _parameters(tabulation: Tabulation) -> Iterator[tuple[str, str]]:
    protocol = tabulation.protocol
    yield "TITLE", text(protocol.titles.official or protocol.titles.brief)
    if protocol.identifiers.nct_id:
        yield "REGID", protocol.identifiers.nct_id
    yield "SPONSOR", text(protocol.sponsor.lead.name)
    for condition in protocol.conditions:
        yield "INDIC", text(condition)
    phase = PHASES.get(tuple(sorted(str(phase) for phase in protocol.phases)))
    if phase:
        yield "TPHASE", phase
    yield "STYPE", protocol.design.study_type
    yield "RANDOM", "Y" if str(protocol.design.allocation) == "RANDOMIZED" else "N"
    yield "TBLIND", BLINDING.get(str(protocol.design.masking), "DOUBLE BLIND")
    if protocol.design.intervention_model is not None:
        model = MODELS.get(str(protocol.design.intervention_model))
        if model:
            yield "INTMODEL", model
    arm_types = {str(arm.type) for arm in protocol.arms}
    control = (
        "PLACEBO"
        if "PLACEBO_COMPARATOR" in arm_types
        else "ACTIVE"
        if "ACTIVE_COMPARATOR" in arm_types
        else "NONE"
    )
    yield "TCNTRL", control
    if str(protocol.design.primary_purpose) in (
        "TREATMENT",
        "PREVENTION",
        "DIAGNOSTIC",
        "SCREENING",
    ):
        yield (
            "TINDTP",
            {"DIAGNOSTIC": "DIAGNOSIS"}.get(
                str(protocol.design.primary_purpose), str(protocol.design.primary_purpose)
            ),
        )
    if any(outcome.instrument for outcome in protocol.outcomes):
        yield "TTYPE", "EFFICACY"
    if any(outcome.instrument is None for outcome in protocol.outcomes):
        yield "TTYPE", "SAFETY"
    yield "NARMS", str(len(protocol.arms))
    yield "PLANSUB", str(protocol.enrollment.count)
    yield "ACTSUB", str(tabulation.allocated_subjects)
    if _iso_age(protocol.eligibility.minimum_age):
        yield "AGEMIN", _iso_age(protocol.eligibility.minimum_age)
    if _iso_age(protocol.eligibility.maximum_age):
        yield "AGEMAX", _iso_age(protocol.eligibility.maximum_age)
    yield "SEXPOP", SEXES[str(protocol.eligibility.sex)]
    if protocol.eligibility.healthy_volunteers is not None:
        yield "HLTSUBJI", "Y" if protocol.eligibility.healthy_volunteers else "N"
    types = {INTERVENTION_TYPES.get(str(i.type)) for i in protocol.interventions} - {None}
    for kind in sorted(types):  # type: ignore[type-var]
        yield "INTTYPE", kind  # type: ignore[misc]
    routes = {
        (ai.route or "").lower().replace("-", "")
        for arm in protocol.arms
        for ai in arm.interventions
    }
    if routes and all("intraarticular" in route for route in routes):
        yield "ROUTE", "INTRA-ARTICULAR"
    yield "SDTIGVER", SDTMIG_VERSION


def ts_rows(tabulation: Tabulation) -> Iterator[Row]:
    names = {code: name for name, code in codelists()["TSPARM"].terms.items()}
    counts: dict[str, int] = {}
    for parameter, value in _parameters(tabulation):
        counts[parameter] = counts.get(parameter, 0) + 1
        codelist = TS_VALUE_CODELISTS.get(parameter)
        reference = (
            "CDISC"
            if codelist
            else "ISO 8601"
            if parameter.startswith("AGE")
            else "ClinicalTrials.gov"
            if parameter == "REGID"
            else ""
        )
        yield {
            "STUDYID": tabulation.studyid,
            "DOMAIN": "TS",
            "TSSEQ": counts[parameter],
            "TSGRPID": "",
            "TSPARMCD": parameter,
            "TSPARM": names[term_code("TSPARMCD", parameter)],
            "TSVAL": value,
            "TSVALNF": "",
            "TSVALCD": term_code(codelist, value) if codelist else "",
            "TSVCDREF": reference,
            "TSVCDVER": CT_VERSION if codelist else "",
        }


TS = Domain(
    "TS",
    "Trial Summary",
    "TRIAL DESIGN",
    "One record per trial summary parameter value",
    ("STUDYID", "TSPARMCD", "TSSEQ"),
    TS_VARIABLES,
    ts_rows,
)
TE = Domain(
    "TE",
    "Trial Elements",
    "TRIAL DESIGN",
    "One record per planned Element",
    ("STUDYID", "ETCD"),
    TE_VARIABLES,
    te_rows,
)
TA = Domain(
    "TA",
    "Trial Arms",
    "TRIAL DESIGN",
    "One record per planned Element per Arm",
    ("STUDYID", "ARMCD", "TAETORD"),
    TA_VARIABLES,
    ta_rows,
)
TV = Domain(
    "TV",
    "Trial Visits",
    "TRIAL DESIGN",
    "One record per planned Visit per Arm",
    ("STUDYID", "VISITNUM", "ARMCD"),
    TV_VARIABLES,
    tv_rows,
)
TI = Domain(
    "TI",
    "Trial Inclusion/Exclusion Criteria",
    "TRIAL DESIGN",
    "One record per I/E criterion",
    ("STUDYID", "IETESTCD"),
    TI_VARIABLES,
    ti_rows,
)
