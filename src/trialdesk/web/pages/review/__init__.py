"""Review of a study's data by its monitors and data managers: the query list (filters,
counts, bulk close), a query's page with its thread, and raising a query on an item."""
