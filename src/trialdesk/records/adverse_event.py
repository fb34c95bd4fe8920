"""The adverse event: its fields, codes and labels, declared once (see `trialdesk.records`).

Vocabularies: CTCAE v5.0 grades (their general meaning), the ICH E2A seriousness criteria,
WHO-UMC causality (relation to the study treatment, weakest first), CDISC action taken with
the study treatment (AEACN) and outcome (AEOUT). Codes are the store's; exporters map them to
each standard's terms.
"""

from __future__ import annotations

from trialdesk.records import Code, Record, RecordField, gettext_noop

#: The longest term the store keeps (the investigator's words for the event).
TERM_LENGTH = 200

CTCAE_GRADES = (
    Code(1, gettext_noop("Mild")),
    Code(2, gettext_noop("Moderate")),
    Code(3, gettext_noop("Severe or medically significant")),
    Code(4, gettext_noop("Life-threatening")),
    Code(5, gettext_noop("Death related to the adverse event")),
)
#: ICH E2A: a serious adverse event is one that ...
SERIOUSNESS = (
    Code("death", gettext_noop("Results in death")),
    Code("life_threatening", gettext_noop("Is life-threatening")),
    Code(
        "hospitalization",
        gettext_noop("Requires inpatient hospitalisation or prolongs an existing hospitalisation"),
    ),
    Code(
        "disability", gettext_noop("Results in persistent or significant disability or incapacity")
    ),
    Code("congenital_anomaly", gettext_noop("Is a congenital anomaly or birth defect")),
    Code("medically_important", gettext_noop("Is another important medical event")),
)
RELATEDNESS = (
    Code("not_related", gettext_noop("Not related")),
    Code("unlikely", gettext_noop("Unlikely")),
    Code("possible", gettext_noop("Possible")),
    Code("probable", gettext_noop("Probable")),
    Code("certain", gettext_noop("Certain")),
)
#: Expected by the reference safety information; an empty value is unknown.
EXPECTEDNESS = (
    Code(True, gettext_noop("Expected"), name="expected"),
    Code(False, gettext_noop("Unexpected"), name="unexpected"),
)
ACTION_TAKEN = (
    Code("dose_not_changed", gettext_noop("Dose not changed")),
    Code("drug_withdrawn", gettext_noop("Treatment withdrawn")),
    Code("drug_interrupted", gettext_noop("Treatment interrupted")),
    Code("not_applicable", gettext_noop("Not applicable")),
    Code("unknown", gettext_noop("Unknown")),
)
OUTCOME = (
    Code("recovered", gettext_noop("Recovered or resolved")),
    Code("recovering", gettext_noop("Recovering or resolving")),
    Code("not_recovered", gettext_noop("Not recovered or not resolved")),
    Code("recovered_with_sequelae", gettext_noop("Recovered or resolved with sequelae")),
    Code("fatal", gettext_noop("Fatal")),
    Code("unknown", gettext_noop("Unknown")),
)

ADVERSE_EVENT = Record(
    "adverse_event",
    (
        RecordField("number", "integer", gettext_noop("Number"), reported=False),
        RecordField("term", "text", gettext_noop("Term"), max_length=TERM_LENGTH),
        RecordField("onset_date", "date", gettext_noop("Onset date")),
        RecordField("end_date", "date", gettext_noop("End date"), optional=True),
        RecordField("ctcae_grade", "code", gettext_noop("CTCAE grade"), CTCAE_GRADES),
        RecordField("seriousness", "codes", gettext_noop("Seriousness criteria"), SERIOUSNESS),
        RecordField("relatedness", "code", gettext_noop("Relatedness"), RELATEDNESS),
        RecordField(
            "expected", "boolean", gettext_noop("Expectedness"), EXPECTEDNESS, optional=True
        ),
        RecordField("action_taken", "code", gettext_noop("Action taken"), ACTION_TAKEN),
        RecordField("outcome", "code", gettext_noop("Outcome"), OUTCOME),
        RecordField("awareness_at", "datetime", gettext_noop("Site aware")),
        #: Awareness plus the protocol's SAE reporting hours; empty for a non-serious event.
        RecordField(
            "report_due_at",
            "datetime",
            gettext_noop("SAE report due"),
            optional=True,
            reported=False,
        ),
        RecordField(
            "reported_at", "datetime", gettext_noop("SAE reported"), optional=True, reported=False
        ),
    ),
)
