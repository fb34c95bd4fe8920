"""Sets up the store the browser tests are served: both seed studies, every site, and the users
of `USERS` with their roles and passwords. Run by tests/web/conftest.py as a child process
pointed at the served database (argument: the JSON of `USERS`)."""

from __future__ import annotations

import json
import sys


def seed(users: dict[str, dict]) -> None:
    from trialdesk.store.database import open_store

    open_store(create=True)
    from trialdesk.store.services import add_site, add_user, create_study
    from trialdesk.store.services.accounts import set_password
    from trialdesk.store.services.setup import set_full_name

    operator = "operator:web-tests"
    studies = {}
    for protocol_id in ("NCT05933434", "NCT04208646"):
        study = create_study(protocol_id, operator)
        for site in study.protocol().sites:
            add_site(study, site.id, operator)
        studies[protocol_id] = study
    for username, user in users.items():
        for protocol_id, role, site in user["roles"]:
            add_user(studies[protocol_id], username, role, operator, site)
        set_password(username, user["password"], operator)
        if user.get("full_name"):
            set_full_name(username, user["full_name"], operator)


if __name__ == "__main__":
    seed(json.loads(sys.argv[1]))
