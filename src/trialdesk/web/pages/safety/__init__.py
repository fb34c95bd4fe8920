"""Adverse events and the SAE clock, deviations, withdrawal and loss to follow-up, emergency
unblinding.
"""
