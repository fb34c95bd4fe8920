"""The monitor's central-monitoring dashboard: key risk indicators per site with their funnel
plots and flags, and the central statistical checks' flags (blinded: nothing by arm)."""
