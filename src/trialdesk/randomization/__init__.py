"""Allocation lists, minimization, kit lists and their assessment: pure algorithms, no database.

- `design`: arms with allocation weights, stratification factors, strata, block sizes.
- `streams`: seeds and the reproducible random streams every list is drawn from.
- `blocks`: stratified permuted blocks (the allocation list of a stratum, slot by slot).
- `minimization`: Pocock-Simon minimization with a random element.
- `kits`: blinded kit numbers for double-blind dispensing.
- `listfile`: the CSV form of a list: writing ours, reading and checking a statistician's.
- `assessment`: predictability (guess rate) and balance of a scheme, by vectorised simulation.

This package imports nothing at module level so that `trialdesk randomization ...` starts fast;
the modules above import numpy.
"""
