"""The adverse event is declared once (`trialdesk.records.adverse_event`): every layer that
names its fields or codes agrees with the declaration, and the declaration with the
vocabularies it names (ICH E2A, WHO-UMC, CDISC AEACN and AEOUT, CTCAE v5.0), listed here
from those documents."""

from __future__ import annotations

from trialdesk.exchange.fhir import codes as fhir_codes
from trialdesk.exchange.redcap import _adverse_event_columns, _VariableNames
from trialdesk.exchange.sdtm import events as sdtm_events
from trialdesk.instruments.catalogue import get_instrument
from trialdesk.protocol.redcap_dictionary import parse_choices
from trialdesk.records.adverse_event import ADVERSE_EVENT
from trialdesk.store.models import AdverseEvent
from trialdesk.web.api.schemas import AdverseEventChanges, AdverseEventIn, AdverseEventOut
from trialdesk.web.pages.safety import steps

#: ICH E2A's six criteria of a serious adverse event.
ICH_E2A = {
    "death",
    "life_threatening",
    "hospitalization",
    "disability",
    "congenital_anomaly",
    "medically_important",
}
#: WHO-UMC causality categories trialdesk keeps (weakest first).
WHO_UMC = ("not_related", "unlikely", "possible", "probable", "certain")
#: CDISC codelist ACN (action taken with study treatment) and OUT (outcome of event): the
#: submission values each store code maps to in SDTM.
CDISC_ACN = {
    "dose_not_changed": "DOSE NOT CHANGED",
    "drug_withdrawn": "DRUG WITHDRAWN",
    "drug_interrupted": "DRUG INTERRUPTED",
    "not_applicable": "NOT APPLICABLE",
    "unknown": "UNKNOWN",
}
CDISC_OUT = {
    "recovered": "RECOVERED/RESOLVED",
    "recovering": "RECOVERING/RESOLVING",
    "not_recovered": "NOT RECOVERED/NOT RESOLVED",
    "recovered_with_sequelae": "RECOVERED/RESOLVED WITH SEQUELAE",
    "fatal": "FATAL",
    "unknown": "UNKNOWN",
}


def _values(name: str) -> list:
    return list(ADVERSE_EVENT[name].values)


def test_the_declaration_names_the_published_vocabularies() -> None:
    assert set(_values("seriousness")) == ICH_E2A
    assert tuple(_values("relatedness")) == WHO_UMC
    assert _values("action_taken") == list(CDISC_ACN)
    assert _values("outcome") == list(CDISC_OUT)
    assert _values("ctcae_grade") == [1, 2, 3, 4, 5]
    assert ADVERSE_EVENT["ctcae_grade"].label_of(5) == "Death related to the adverse event"


def test_the_model_has_the_declared_fields_and_codes() -> None:
    stored = {field.name for field in AdverseEvent._meta.concrete_fields} - {"id", "subject"}
    assert stored == set(ADVERSE_EVENT.names)
    for field in ADVERSE_EVENT.coded + (ADVERSE_EVENT["ctcae_grade"],):
        choices = AdverseEvent._meta.get_field(field.name).choices
        assert [value for value, _label in choices] == list(field.values), field.name
    assert AdverseEvent._meta.get_field("term").max_length == ADVERSE_EVENT["term"].max_length


def _properties(model) -> dict:
    return model.model_json_schema()["properties"]


def test_the_api_schemas_have_the_reported_fields_with_their_codes() -> None:
    reported = set(ADVERSE_EVENT.reported)
    assert set(_properties(AdverseEventIn)) == reported
    assert set(_properties(AdverseEventChanges)) == reported
    assert set(_properties(AdverseEventOut)) == set(ADVERSE_EVENT.names) | {"subject", "serious"}
    required = set(AdverseEventIn.model_json_schema()["required"])
    assert required == {
        "term",
        "onset_date",
        "ctcae_grade",
        "seriousness",
        "relatedness",
        "action_taken",
        "outcome",
        "awareness_at",
    }
    assert "required" not in AdverseEventChanges.model_json_schema()
    for model in (AdverseEventIn, AdverseEventOut):
        properties = _properties(model)
        assert properties["seriousness"]["items"]["enum"] == _values("seriousness")
        for name in ("relatedness", "action_taken", "outcome", "ctcae_grade"):
            assert properties[name]["enum"] == _values(name), (model.__name__, name)
    assert _properties(AdverseEventIn)["term"]["maxLength"] == 200


def test_the_safety_pages_offer_the_declared_codes() -> None:
    for vocabulary, name in (
        (steps.CTCAE_GRADES, "ctcae_grade"),
        (steps.SERIOUSNESS, "seriousness"),
        (steps.RELATEDNESS, "relatedness"),
        (steps.ACTION_TAKEN, "action_taken"),
        (steps.OUTCOME, "outcome"),
    ):
        assert [code for code, _label in vocabulary] == _values(name), name
    assert [value for _code, value, _label in steps.EXPECTEDNESS] == [True, False, None]
    assert ADVERSE_EVENT.reported == steps.AE_FIELDS


def test_every_exporter_maps_every_declared_code() -> None:
    assert sdtm_events.ACTION_TAKEN == CDISC_ACN
    assert sdtm_events.OUTCOME == CDISC_OUT
    assert list(sdtm_events.RELATEDNESS) == _values("relatedness")
    assert set(sdtm_events.SERIOUSNESS) == set(_values("seriousness"))
    assert list(fhir_codes.AE_OUTCOMES) == _values("outcome")
    grades = get_instrument("ctcae_grade").items[0].options
    assert [option.value for option in grades] == _values("ctcae_grade")


def test_the_redcap_form_has_a_field_per_declared_field_with_its_choices() -> None:
    columns = _adverse_event_columns(_VariableNames())
    assert [column.key for column in columns] == list(ADVERSE_EVENT.names)
    by_key = {column.key: column.field for column in columns}
    for name in ("seriousness", "relatedness", "action_taken", "outcome", "ctcae_grade"):
        choices = parse_choices(by_key[name].choices)
        assert [code for code, _label in choices] == [str(v) for v in _values(name)], name
    assert by_key["seriousness"].field_type == "checkbox"
    assert by_key["expected"].field_type == "yesno"
    assert by_key["awareness_at"].validation == "datetime_seconds_ymd"
