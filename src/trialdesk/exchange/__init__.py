"""Data leave and enter trialdesk in the field's standards (no Django here).

Each format is one module with `write(source, out) -> list[Path]`: it takes an
`ExportSource` (the protocol, the store's rows as the reader may see them, the audit trail)
and writes files. The store feeds it through the access policy (`trialdesk.store.export_feed`),
so a blinded reader's source has no arm and no kit-to-arm link, and the writers never ask.

| format | module | `--out` |
|---|---|---|
| odm | `trialdesk.exchange.odm` | one ODM 1.3.2 XML file |
| sdtm | `trialdesk.exchange.sdtm` | a directory: Dataset-JSON 1.1, XPT v5, define.xml |
| fhir | `trialdesk.exchange.fhir` | one FHIR R4 (R4B models) Bundle as JSON |
| redcap | `trialdesk.exchange.redcap` | a directory: data dictionary and records CSV |
| ctgov-results | `trialdesk.exchange.ctgov_results` | one ClinicalTrials.gov API v2 record |
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExportFormat:
    name: str
    module: str  # holds `write(source: ExportSource, out: Path) -> list[Path]`
    directory: bool  # `--out` names a directory (else a file)
    suffix: str  # of the file, or "" for a directory
    summary: str


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("odm", "trialdesk.exchange.odm", False, ".xml", "CDISC ODM 1.3.2"),
        ExportFormat(
            "sdtm", "trialdesk.exchange.sdtm", True, "", "SDTM: Dataset-JSON, XPT, define.xml"
        ),
        ExportFormat("fhir", "trialdesk.exchange.fhir", False, ".json", "FHIR R4 Bundle"),
        ExportFormat(
            "redcap", "trialdesk.exchange.redcap", True, "", "REDCap dictionary and records"
        ),
        ExportFormat(
            "ctgov-results",
            "trialdesk.exchange.ctgov_results",
            False,
            ".json",
            "ClinicalTrials.gov results section",
        ),
    )
}
