"""The work queue page: what waits on the user, section by section (Rave's task summary)."""
