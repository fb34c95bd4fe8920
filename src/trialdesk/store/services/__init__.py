"""The only write path of the study store.

Every function here is one database transaction that also appends its audit events
(`trialdesk.store.audit.audited_write`). Views, API handlers and CLI commands call these;
they never save models themselves. Arguments name the study, the subject by its SITE-NNN code
and the user (`by`) who takes the step.
"""

from trialdesk.store.services.allocation import (
    Randomization,
    randomize_subject,
    record_administration,
    unblind_subject,
)
from trialdesk.store.services.forms import save_form
from trialdesk.store.services.safety import (
    record_sae_report,
    report_adverse_event,
    update_adverse_event,
)
from trialdesk.store.services.setup import (
    add_site,
    add_user,
    create_study,
    lock_study,
    unlock_study,
)
from trialdesk.store.services.subjects import (
    complete_subject,
    evaluate_eligibility,
    record_consent,
    record_lost_to_follow_up,
    record_screen_failure,
    screen_subject,
    withdraw_subject,
)
from trialdesk.store.services.visits import record_deviation, record_missed_visit, record_visit

__all__ = [
    "Randomization",
    "add_site",
    "add_user",
    "complete_subject",
    "create_study",
    "evaluate_eligibility",
    "lock_study",
    "randomize_subject",
    "record_administration",
    "record_consent",
    "record_deviation",
    "record_lost_to_follow_up",
    "record_missed_visit",
    "record_sae_report",
    "record_screen_failure",
    "record_visit",
    "report_adverse_event",
    "save_form",
    "screen_subject",
    "unblind_subject",
    "unlock_study",
    "update_adverse_event",
    "withdraw_subject",
]
