"""What the browser tests know of the seed trials, by hand: the protocol files' arms (to check a
blinded page for them), eligible patients' screening forms written from the criteria, and an
API client with a user's token, for setting up subjects fast."""

from __future__ import annotations

import json
import re
import urllib.request
from functools import cache
from typing import Any

import yaml

from support.browser import REPO

PROTOCOLS = REPO / "src" / "trialdesk" / "protocols"

#: An eligible STEMJOINT patient's screening forms, by hand from the criteria: pain 12 months
#: with NRS 6 (I1), KL grade 2 and joint space 2 mm (I2), 3 degrees varus (I3), medial OA (I4),
#: 170 cm and 70 kg: BMI 24.2 (I5), AP laxity 1 mm (E11).
STEMJOINT_ELIGIBLE: dict[str, dict[str, Any]] = {
    "screening_history": {
        "index_knee_side": "right",
        "oa_duration_months": 24,
        "knee_pain_duration_months": 12,
        "oa_compartment": "medial",
    },
    "nrs_pain": {"nrs": 6},
    "kl_grade": {"index_knee": 2, "contralateral_knee": 1},
    "knee_exam": {
        "index_joint_space_width_mm": 2,
        "index_alignment_deg": 3,
        "index_ap_laxity_mm": 1,
    },
    "vitals": {"height_cm": 170, "weight_kg": 70},
}
#: WOMAC with every item 2: pain 10, total 48.
WOMAC_TWOS = {
    f"{part}{i}": 2 for part, n in (("P", 5), ("S", 2), ("F", 17)) for i in range(1, n + 1)
}
#: An eligible NCT04208646 patient: OA 24 months (I4), WOMAC all items 2: pain 10 and total
#: 48 (I5), KL grade 2 (I6, E24), BMI 24.2 (E3), normal labs (E4) and negative serology (E18).
CBM_ELIGIBLE: dict[str, dict[str, Any]] = {
    "screening_history": {"index_knee_side": "left", "oa_duration_months": 24},
    "womac": WOMAC_TWOS,
    "kl_grade": {"index_knee": 2, "contralateral_knee": 1},
    "vitals": {"height_cm": 170, "weight_kg": 70},
    "labs": {
        "neutrophils": 4.0,
        "platelets": 250,
        "albumin": 42,
        "creatinine": 80,
        "creatinine_uln": 104,
        "bilirubin": 10,
        "bilirubin_uln": 22,
        "alt": 20,
        "alt_uln": 45,
        "ast": 22,
        "ast_uln": 35,
        "hiv_positive": False,
        "hbv_positive": False,
        "hcv_positive": False,
        "syphilis_positive": False,
    },
}


@cache
def protocol(study: str) -> dict[str, Any]:
    """The shipped protocol file of `study`, as YAML."""
    return yaml.safe_load((PROTOCOLS / f"{study}.yaml").read_text())


def criteria(study: str) -> list[dict[str, Any]]:
    return protocol(study)["eligibility"]["criteria"]


def attestations_all_confirmed(study: str) -> dict[str, bool]:
    """Every attestation criterion answered for an eligible patient: inclusions met (true),
    exclusions absent (false)."""
    return {c["id"]: c["type"] == "inclusion" for c in criteria(study) if c.get("attestation")}


def arm_words(study: str) -> list[str]:
    arms = protocol(study)["arms"]
    return [arm["id"] for arm in arms] + [arm["label"] for arm in arms]


def arm_in(html: str, study: str) -> str | None:
    """The first arm id or label of the protocol found in `html` as a word of its own."""
    for word in arm_words(study):
        if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", html):
            return word
    return None


def assert_no_arm(html: str, study: str) -> None:
    for word in arm_words(study):
        found = re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", html)
        assert found is None, (
            f"arm {word!r} in a blinded page: "
            f"…{html[max(found.start() - 80, 0) : found.end() + 80]}…"
        )


class Api:
    """The REST API of a served store as one user (a token made with the CLI)."""

    def __init__(self, served: Any, username: str) -> None:
        created = served.trialdesk("token", "create", username, "--json")
        assert created.returncode == 0, created.stderr
        self.token = json.loads(created.stdout)["token"]
        self.served = served

    def call(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.served.url("/api/v1" + path),
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read() or b"null")


_APIS: dict[tuple[str, str], Api] = {}


def api(served: Any, username: str) -> Api:
    """The user's API client on this store (one token each)."""
    key = (served.base_url, username)
    if key not in _APIS:
        _APIS[key] = Api(served, username)
    return _APIS[key]
