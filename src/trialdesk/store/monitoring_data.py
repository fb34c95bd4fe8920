"""The store's data for central monitoring, as the plain frames of
`trialdesk.monitoring.kri.MonitoringData`, read through an `Access` only.

Site scope: only the subjects the reader may read (`Access.subjects()`), only their sites
(`Access.sites()`). Blinded: no arm is read (not `Allocation.slot.arm`, not `Kit.arm`); the
frames carry none. A fixed number of queries, whatever the number of subjects.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trialdesk.monitoring.kri import MonitoringData
    from trialdesk.store.access import Access


def monitoring_data(access: Access, as_of: dt.date | None = None) -> MonitoringData:
    """The reader's sites' data for KRIs and statistical checks, as of `as_of` (today).

    Patient-years from day 0 to the earliest of the withdrawal (the subject's status change
    in the audit trail, else as of), the last protocol visit done, and `as_of`; a visit is
    due when done, missed, or its window closed before `as_of`; data-entry lag from the
    visit's date to the form's first ``form.entered`` audit event.
    """
    raise NotImplementedError
