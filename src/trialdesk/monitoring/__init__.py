"""Monitoring over plain data (no Django, no database): the protocol's edit checks
(`edit_checks`), which items a source data verification plan asks for (`sdv`), key risk
indicators per site with funnel-plot limits (`kri`, `funnel`) and central statistical checks
of measured items (`statistical_checks`)."""
