"""An investigator signs one visit (not the casebook) from the visit page, in Chromium against
`trialdesk serve`; a later change to a form of that visit breaks the signature visibly.

What the page must show is from 21 CFR 11.50 (the printed name, the date and time, the
meaning of the signature) and from issue 13 ("an investigator signs a visit or a subject's
casebook with a stated meaning by entering the password again; a later change to signed data
breaks it visibly and is recorded"). The times are read against the audit trail's record of
the signing and of the break (UTC), in the investigator's own time zone. The subject is set up
through the REST API by the site's coordinator: the screening visit done, each of its forms
entered and marked complete (a visit is signed once it is). The helpers are the casebook
test's (test_signing.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from support.browser import STEMJOINT, look
from support.trial_data import CBM_ELIGIBLE, STEMJOINT_ELIGIBLE, assert_no_arm

from .test_signing import (
    COPENHAGEN,
    INVESTIGATOR,
    PRINTED_NAME,
    SCREENED_ON,
    ZONE,
    api,
    assert_signature_shown,
    audit_event,
    consented_subject,
    set_time_zone,
)

COORDINATOR = "sj-coordinator"
#: The visit's stated meaning, as the signature service words it.
VISIT_MEANING = (
    "Review as investigator: I have reviewed the data of this visit and confirm that they are "
    "accurate."
)
#: The screening visit's forms in STEMJOINT (its protocol file): all entered and complete.
SCREENING_FORMS = {**STEMJOINT_ELIGIBLE, "labs": CBM_ELIGIBLE["labs"]}


@pytest.fixture(scope="module")
def screened_and_reviewed(served: Any) -> str:
    """A consented STEMJOINT subject whose screening visit is done, every form of it entered
    and marked complete: a visit ready to sign."""
    client = api(served, COORDINATOR)
    base = f"/studies/{STEMJOINT}/subjects"
    code = consented_subject(client, 61, "male")
    client.expect("POST", f"{base}/{code}/visits/SCR", {"visit_date": SCREENED_ON.isoformat()})
    for form, values in SCREENING_FORMS.items():
        path = f"{base}/{code}/visits/SCR/forms/{form}"
        client.expect("PATCH", path, {"values": values, "complete": True})
    client.close()
    return code


def test_investigator_signs_a_visit_and_a_change_to_its_form_breaks_it(
    served: Any, sign_in: Any, screened_and_reviewed: str
) -> None:
    code = screened_and_reviewed
    visit_page = f"/studies/{STEMJOINT}/subjects/{code}/visits/SCR/"
    page = sign_in(served, INVESTIGATOR)
    set_time_zone(page, ZONE)
    try:
        page.goto(visit_page)
        card = page.locator("#sign-off")
        assert "Signature and locks of this visit" in card.locator("h2").inner_text()
        assert "Not signed" in card.locator("#signatures").inner_text()
        # The visit's one stated meaning, chosen (not the casebook's); the password again.
        meaning = card.locator("input[name=meaning]")
        assert meaning.count() == 1 and meaning.is_checked()
        assert meaning.get_attribute("value") == "visit_review"
        assert VISIT_MEANING in card.locator("fieldset").inner_text()
        page.fill("#sign-password", served.password(INVESTIGATOR))
        page.click("#sign-off button:text('Sign')")
        page.wait_for_load_state()
        assert "Signed." in page.locator(".messages").inner_text()
        assert page.url.endswith(visit_page + "#sign-off")

        assert_signature_shown(page, served, code, VISIT_MEANING)
        assert_no_arm(page.content(), STEMJOINT)
        look(page, "visits/visit-signed")

        # The visit's signature is not the casebook's: the subject page's card is unsigned.
        page.goto(f"/studies/{STEMJOINT}/subjects/{code}/")
        assert "Not signed" in page.locator("#sign-off #signatures").inner_text()
        assert page.locator("#sign-off li.signature").count() == 0

        # A change to a form of the signed visit (the weight, with its reason) breaks it.
        client = api(served, COORDINATOR)
        client.expect(
            "PATCH",
            f"/studies/{STEMJOINT}/subjects/{code}/visits/SCR/forms/vitals",
            {"values": {"weight_kg": 71}, "reason": "Re-weighed at the visit"},
        )
        client.close()
        page.goto(visit_page)
        broken = page.locator("#sign-off li.signature")
        assert broken.count() == 1
        assert broken.get_attribute("data-signature") == "broken"
        notice = page.locator("#sign-off .signature-broken").inner_text()
        assert "The signature is broken" in notice and "sign this visit again" in notice
        what = broken.locator(".signature-broken-by").inner_text()
        assert what == f"subject {code}, visit SCR, form vitals: weight_kg changed by {COORDINATOR}"
        broken_at = audit_event(served, code, "signature.broken")["at"].astimezone(COPENHAGEN)
        assert f"{broken_at:%Y-%m-%d %H:%M} {ZONE}" in broken.inner_text()
        # The broken signature stays on record, with its manifestation; signing again is
        # offered.
        assert PRINTED_NAME in broken.inner_text() and VISIT_MEANING in broken.inner_text()
        assert page.locator("#sign-password").count() == 1
        look(page, "visits/visit-signature-broken")
    finally:
        set_time_zone(page, "")
