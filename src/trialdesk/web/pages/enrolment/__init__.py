"""Screening to randomization: a new subject, eligibility, consent, randomization, kits and
administrations.
"""
