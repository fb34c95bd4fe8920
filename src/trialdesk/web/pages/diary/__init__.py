"""A subject's diary for site staff and monitors: compliance grid, alert, personal link."""
