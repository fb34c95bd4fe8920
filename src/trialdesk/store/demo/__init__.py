"""A virtual trial driven from the first screening to database lock through the store's services.

`run_virtual_trial` plans the whole trial in memory first, then takes every step with the
service and the role a site would use. Planning writes nothing, so a protocol the demo cannot
run is refused before the store changes.

The plan:
- a screening log of synthetic knee-osteoarthritis patients drawn with the eligibility synth's
  recipes (a latent severity drives KL grades, WOMAC, pain, BMI, joint space...). Patients whose
  screening data could not decide eligibility are not invited; of the invited, some decline
  consent, some fail a computable criterion on their screening forms or an investigator's
  attestation (INELIGIBLE_SHARE, whatever the criteria), the others are randomized until
  `patients` are;
- recruitment over a plausible period, placed in the past so that the last subject's last
  visit, adverse events included, ends before `today`;
- each subject's course: visit dates mostly inside their windows, a few late (the store records
  an automatic deviation), missed visits, prohibited medication (a manual deviation),
  withdrawals and losses to follow-up, adverse events (mild knee events, more often after an
  injection; a few serious ones with their expedited reports, one reported after its deadline).
  Each of these shows at least once when the run has enough subjects: one that did not happen
  is forced onto a subject (a withdrawal or loss only onto a completer, and one completer is
  always left);
- the answers to every form from one patient model: a symptom level on the 0-4 item scale of
  WOMAC and KOOS that improves after day 0 (a response everyone has, the patient's own, and the
  arm's effect, in WOMAC 0-100 points at the last visit), shared by the items and forms of a
  visit so that they correlate, and clipped to each item's allowed values.

Randomness derives from `seed` through numpy generators keyed by the patient and the step, and
no draw depends on the arm, so a seed gives the same counts whatever the allocation list (whose
seed the store draws itself). The arm enters only the outcome values; it is read as the
unblinded pharmacist sees it (Allocation -> AllocationSlot.arm), and the summary shows counts
per arm only.

Demo users, created when missing (user names are global in the store, so studies share the
study-wide ones): at each protocol site S `coordinator-S` (coordinator) and `investigator-S`
(investigator); study-wide `pharmacist`, `assessor`, `monitor`, `statistician` and
`data_manager`. The operator's steps (study, sites, users) are audited as `operator:demo`.

Before the database lock the site answers each open query and the data manager closes it, and
each site's investigator signs the casebook of every randomized subject (password again).

Misbehaving sites (`misbehaviour`, `trialdesk demo run --misbehaving-sites` or `--misbehave
SITE=HOW`): one fabricates vitals and knee examinations, one enters late, one under-reports
adverse events, so that central monitoring has something to find. With them the run takes
every patient's steps on a simulated clock (`clock`), in the order of their moments, so the
audit trail holds each site's entry lag.

The package: `plan` draws the whole trial in memory (screening log, calendar, courses),
`answers` is the patient model every form's answers come from, `misbehaviour` what a
misbehaving site does and when a site enters its data, `clock` the simulated clock, `run`
takes the plan through the store's services and `summary` counts what the run left in the
store.
"""

from trialdesk.store.demo.run import run_virtual_trial
from trialdesk.store.demo.summary import TrialSummary

__all__ = ["TrialSummary", "run_virtual_trial"]
