"""The served web app answers, and a coordinator signs in, in each language."""

from __future__ import annotations

import pytest

from support.browser import LANGUAGES, look


@pytest.mark.parametrize("language", LANGUAGES)
def test_coordinator_signs_in_and_sees_the_study(served, sign_in, language):
    page = sign_in(served, "sj-coordinator", language=language)
    assert "/studies/NCT05933434/" in page.url
    look(page, "smoke/study-home")
