"""The store tests run twice: on SQLite (a WAL file) and on a throwaway PostgreSQL server.

`store_backend` is a session fixture with one parameter per backend; `django_db_setup`
depends on it, so every test that uses the database runs once per backend (test ids end in
[sqlite] or [postgresql]) and pytest groups them so each test database is built once. The
database settings come from `trialdesk.web.database`, the code production uses.

DJANGO_SETTINGS_MODULE is set (and Django set up) here, not in pyproject.toml, so the other
test areas never import Django.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
import pytest

from support.throwaway import ServerUnavailable, ThrowawayPostgres

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialdesk.web.settings")
# Not the key file in ./.trialdesk/ that the settings would otherwise create.
os.environ.setdefault("TRIALDESK_SECRET_KEY", "tests-only-" + "k" * 40)
# Nor the audit key file there: the tests' audit trails are keyed with this.
os.environ.setdefault("TRIALDESK_AUDIT_KEY", "tests-only-audit-key-" + "a" * 32)
# Before the test modules are collected: they import the store's models.
django.setup()

PROTOCOL = Path(__file__).parent / "protocols" / "KNEE-TEST.yaml"
OPERATOR = "operator:tests"
#: Every role of the store, written out by hand (docs/store.md), not read from the code.
ROLES = (
    "admin",
    "data_manager",
    "investigator",
    "coordinator",
    "assessor",
    "pharmacist",
    "monitor",
    "statistician",
    "dmc_statistician",
)

# The screening forms of an eligible KNEE-TEST patient (KL grade 2, BMI 24.2, OA 24 months).
SCREENING_FORMS = {
    "screening_history": {"oa_duration_months": 24},
    "vitals": {"height_cm": 170, "weight_kg": 70},
    "kl_grade": {"index_knee": 2, "contralateral_knee": 1},
}
ATTESTATIONS = {"I1": True, "E2": False}
WOMAC_ALL_ONES = {
    f"{part}{i}": 1 for part, n in (("P", 5), ("S", 2), ("F", 17)) for i in range(1, n + 1)
}


def _unavailable(reason: str) -> None:
    """Fail in CI, where PostgreSQL must be there; skip with the reason on a developer machine."""
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL store tests cannot run: {reason}")
    pytest.skip(f"PostgreSQL store tests skipped: {reason}")


def first_future_date() -> dt.date:
    """The first date that is in the future everywhere: tomorrow where the day begins first
    (UTC+14). A date before it is today somewhere, which the services accept."""
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=14))).date() + dt.timedelta(days=1)


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL server on a loopback port in a temporary directory, for this session."""
    server = ThrowawayPostgres()
    try:
        server.start()
    except ServerUnavailable as error:
        _unavailable(str(error))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgresql_url(postgresql_server: ThrowawayPostgres) -> str:
    return postgresql_server.url("trialdesk")


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def store_backend(request: pytest.FixtureRequest) -> str:
    return request.param


def _use_as_default_database(config: dict[str, Any]) -> None:
    """Point Django's default connection at `config` (between the two backends' runs)."""
    from django.conf import settings
    from django.db import connections

    connections.close_all()
    settings.DATABASES["default"] = config
    connections.__dict__.pop("settings", None)  # a cached property over settings.DATABASES
    with contextlib.suppress(AttributeError):  # no connection was opened in this thread
        del connections["default"]


@pytest.fixture(scope="session")
def django_db_setup(
    request: pytest.FixtureRequest,
    store_backend: str,
    django_test_environment: None,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    from django.test.utils import setup_databases, teardown_databases

    from trialdesk.web.database import database_settings

    if store_backend == "postgresql":
        config = database_settings(request.getfixturevalue("postgresql_url"), Path())
    else:
        home = tmp_path_factory.mktemp("store")
        config = database_settings(None, home)
        # A file, not Django's default in-memory test database: WAL and locking as in use.
        config["TEST"] = {"NAME": str(home / "test.sqlite3")}
    with django_db_blocker.unblock():
        _use_as_default_database(config)
        created = setup_databases(verbosity=0, interactive=False, serialized_aliases=[])
    yield store_backend
    with django_db_blocker.unblock():
        teardown_databases(created, verbosity=0)


@pytest.fixture
def fast_password_hashing(settings: Any) -> None:
    """MD5 instead of Argon2 for the passwords set and checked in this process, for tests
    where the hash is not what is tested (the demo's casebook signing checks the
    investigator's password once per subject: about 0.2 s each with Argon2 on the 2-core
    machine). Only the test's settings change: production keeps Argon2
    (`trialdesk.web.settings`), and so does every served app and tests/store/test_accounts.py,
    which checks it. Used with `pytest.mark.usefixtures("fast_password_hashing")`."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# ---------------------------------------------------------------- a study to work on


@pytest.fixture
def study(django_db_setup: str) -> Any:
    """KNEE-TEST with sites 01 and 02 and a user for each role the tests need."""
    from trialdesk.store.services import add_site, add_user, create_study

    study = create_study(PROTOCOL, OPERATOR)
    add_site(study, "01", OPERATOR)
    add_site(study, "02", OPERATOR)
    for username, role, site in [
        ("ines", "investigator", None),
        ("colin", "coordinator", "01"),
        ("pia", "pharmacist", None),
        ("ada", "assessor", None),
        ("mona", "monitor", None),
    ]:
        add_user(study, username, role, OPERATOR, site)
    return study


@pytest.fixture
def consented_subject(study: Any) -> Any:
    """A factory: screen and consent a subject at a site, return its code."""
    return lambda site="01": screen_and_consent(study, site)


@pytest.fixture
def eligible_subject(study: Any) -> Any:
    """A factory: a consented subject with screening forms, evaluated eligible."""
    return lambda site="01", kl_grade=2: make_eligible(study, site, kl_grade)


def screen_and_consent(study: Any, site: str = "01") -> str:
    from trialdesk.store.services import record_consent, screen_subject

    subject = screen_subject(
        study,
        site,
        year_of_birth=1960,
        age=63,
        sex="female",
        by="ines",
        screened_on=dt.date(2024, 3, 1),
    )
    record_consent(
        study, subject.code, consented_on=dt.date(2024, 3, 1), consent_version="2.0", by="ines"
    )
    return subject.code


def make_eligible(study: Any, site: str = "01", kl_grade: int = 2) -> str:
    """A consented subject with complete screening forms, evaluated eligible."""
    from trialdesk.store.services import evaluate_eligibility, save_form

    code = screen_and_consent(study, site)
    for form, values in SCREENING_FORMS.items():
        if form == "kl_grade":
            values = {**values, "index_knee": kl_grade}
        save_form(study, code, "SCR", form, values, "ines")
    assert evaluate_eligibility(study, code, ATTESTATIONS, "ines").verdict == "eligible"
    return code
