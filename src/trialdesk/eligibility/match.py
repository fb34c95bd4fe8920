"""The trial finder: one patient against several protocols, the closest matches first."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trialdesk.eligibility.evaluation import EligibilityResult, ProtocolCriteria
from trialdesk.errors import EligibilityError

if TYPE_CHECKING:
    from trialdesk.protocol.model import Protocol

VERDICT_ORDER = {"eligible": 0, "incomplete": 1, "ineligible": 2}


@dataclass(frozen=True)
class TrialMatch:
    protocol: str
    title: str
    result: EligibilityResult

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "title": self.title,
            "verdict": self.result.verdict,
            "missing": self.result.missing,
            "unknown": [
                {"id": c.id, "reason": c.reason} for c in self.result.with_result("unknown")
            ],
            "failing": [{"id": c.id, "reason": c.reason} for c in self.result.with_result("fail")],
        }


def match_trials(
    protocols: Iterable[Protocol], items: Mapping[str, Any], attestations: Mapping[str, Any]
) -> tuple[list[TrialMatch], list[str]]:
    """Every protocol's result for the patient, eligible first, then incomplete (fewest
    missing first), then ineligible (fewest failures first); and the item ids no protocol
    defines, which are likely typing mistakes."""
    matches = []
    known: set[str] = set()
    for protocol in protocols:
        criteria = ProtocolCriteria.of(protocol)
        known |= set(criteria.data_items)
        mine = {name: value for name, value in items.items() if name in criteria.data_items}
        answers = {
            key: value for key, value in attestations.items() if key in criteria.attestation_ids
        }
        try:
            result = criteria.evaluate(mine, answers)
        except EligibilityError as error:
            raise EligibilityError(f"{protocol.id}: {error}") from None
        matches.append(TrialMatch(protocol.id, protocol.titles.brief, result))
    matches.sort(
        key=lambda m: (
            VERDICT_ORDER[m.result.verdict],
            len(m.result.with_result("fail")),
            len(m.result.with_result("unknown")),
            m.protocol,
        )
    )
    return matches, [name for name in items if name not in known]
