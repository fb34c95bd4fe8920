"""A subject's page: the calendar of visits, visit dates and missed visits."""
