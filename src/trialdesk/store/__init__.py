"""The study store: the Django app that holds a running trial.

`models` are the tables, `services` the only code that writes them (each write one transaction
that also appends its audit events), `audit` the hash-chained audit trail and its verification,
`lifecycle` the subject state machine. Only this package and `trialdesk.web` import Django.
"""
