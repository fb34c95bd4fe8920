"""The CDISC controlled terminology the SDTM export uses, read from `terminology.tsv`.

`terminology.tsv` is a subset of NCI EVS "SDTM Terminology.txt", release 2025-03-28 (the file
named SDTM_Terminology_2025-03-25.txt in ../shared/reference/sdtm, from
patterninstitute/sdtm.terminology @ e4fdc5f0, data-raw/SDTM Terminology.tar.xz): the header
row of every codelist the export names and the rows of the terms it writes, copied unchanged
(columns Code, Codelist Code, Codelist Extensible (Yes/No), Codelist Name, CDISC Submission
Value, CDISC Synonym(s), CDISC Definition, NCI Preferred Term). It ships in the package because
the writers look up codes at run time; the tests check every written value against the full
release, not against this file.

A value outside a codelist is written only when the codelist is extensible and the domain
declares it a sponsor term (`SponsorTerm`); define.xml marks it def:ExtendedValue="Yes".
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from trialdesk.errors import TrialdeskError

#: The CT release the subset comes from (def:Standard Version in define.xml, TSVCDVER).
CT_VERSION = "2025-03-28"


@dataclass(frozen=True)
class Codelist:
    code: str  # the codelist's C-code, e.g. C66731
    name: str  # the codelist's submission value, e.g. SEX
    title: str  # e.g. Sex
    extensible: bool
    terms: dict[str, str]  # submission value -> C-code
    preferred: dict[str, str]  # submission value -> NCI preferred term (define.xml decode)


@dataclass(frozen=True)
class SponsorTerm:
    """A term added to an extensible CDISC codelist, with the reason it is needed."""

    codelist: str
    value: str
    why: str


@cache
def codelists() -> dict[str, Codelist]:
    """Every codelist of the shipped subset, by its submission value."""
    text = (resources.files("trialdesk.exchange.sdtm") / "terminology.tsv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines(), delimiter="\t"))
    heads = {row["Code"]: row for row in rows if not row["Codelist Code"]}
    terms: dict[str, dict[str, str]] = {code: {} for code in heads}
    preferred: dict[str, dict[str, str]] = {code: {} for code in heads}
    for row in rows:
        if row["Codelist Code"]:
            terms[row["Codelist Code"]][row["CDISC Submission Value"]] = row["Code"]
            preferred[row["Codelist Code"]][row["CDISC Submission Value"]] = row[
                "NCI Preferred Term"
            ]
    return {
        head["CDISC Submission Value"]: Codelist(
            code=code,
            name=head["CDISC Submission Value"],
            title=head["Codelist Name"],
            extensible=head["Codelist Extensible (Yes/No)"] == "Yes",
            terms=terms[code],
            preferred=preferred[code],
        )
        for code, head in heads.items()
    }


def term_code(codelist: str, value: str) -> str:
    """The C-code of `value` in `codelist`; an error (a bug of the export) when it is none."""
    found = codelists()[codelist].terms.get(value)
    if found is None:
        raise TrialdeskError(f"SDTM terminology: {value!r} is not a term of codelist {codelist}")
    return found
