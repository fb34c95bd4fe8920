"""Randomization in the store: lists at setup, lowest free slot, no slot twice or skipped,
under 16 concurrent threads, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection

from trialdesk.store.audit import verify_audit_chain
from trialdesk.store.errors import NotPermitted, ReasonRequired
from trialdesk.store.models import Allocation, AllocationList, AllocationSlot, Kit, Stratum
from trialdesk.store.services import Randomization, randomize_subject, unblind_subject

THREADS = 16


@pytest.mark.django_db
def test_lists_are_generated_at_study_creation(study: Any) -> None:
    allocation_list = AllocationList.objects.get(study=study)
    assert allocation_list.seed.isdigit() and allocation_list.block_sizes == [2, 4]
    strata = Stratum.objects.filter(study=study).order_by("number")
    assert [stratum.key for stratum in strata] == [
        "site=01,kl_grade=2",
        "site=01,kl_grade=3",
        "site=02,kl_grade=2",
        "site=02,kl_grade=3",
    ]
    for stratum in strata:
        slots = list(stratum.slots.order_by("seq"))
        assert [slot.seq for slot in slots] == list(range(1, len(slots) + 1))
        assert len(slots) >= 40  # the whole enrollment fits in any one stratum
        blocks = defaultdict(list)
        for slot in slots:
            blocks[slot.block].append(slot.arm)
        for arms in blocks.values():  # every block holds the 1:1 ratio
            assert Counter(arms)["CELLS"] == Counter(arms)["SALINE"]
    kits = Kit.objects.filter(study=study)
    assert kits.count() == 2 * AllocationSlot.objects.filter(stratum__study=study).count()
    assert all(kit.arm == kit.slot.arm for kit in kits.select_related("slot"))


@pytest.mark.django_db
def test_slots_are_taken_in_order_within_each_stratum(study: Any, eligible_subject: Any) -> None:
    codes = [eligible_subject("01", 2) for _ in range(5)] + [eligible_subject("01", 3)]
    results = [randomize_subject(study, code, "ines") for code in codes]
    assert [r.randomization_number for r in results] == [
        "R01-001",
        "R01-002",
        "R01-003",
        "R01-004",
        "R01-005",
        "R02-001",
    ]
    for result in results:
        allocation = Allocation.objects.select_related("slot").get(subject__code=result.subject)
        kits = allocation.slot.kits.order_by("administration_index")
        assert result.kit_numbers == tuple(kit.kit_number for kit in kits)


@pytest.mark.django_db
def test_what_randomization_returns_is_blind(study: Any, eligible_subject: Any) -> None:
    result = randomize_subject(study, eligible_subject(), "colin")
    assert set(vars(result)) == {"subject", "randomization_number", "kit_numbers"}
    assert isinstance(result, Randomization)


@pytest.mark.django_db
def test_emergency_unblinding(study: Any, eligible_subject: Any) -> None:
    code = eligible_subject()
    randomize_subject(study, code, "ines")
    with pytest.raises(NotPermitted):
        unblind_subject(study, code, "emergency", "colin")
    with pytest.raises(ReasonRequired):
        unblind_subject(study, code, "", "ines")
    arm = unblind_subject(study, code, "suspected unexpected serious reaction", "ines")
    assert arm == Allocation.objects.get(subject__code=code).slot.arm


@pytest.mark.django_db(transaction=True)
def test_concurrent_randomizations_take_each_slot_once_in_order(
    study: Any, eligible_subject: Any
) -> None:
    codes = [
        eligible_subject(site, kl_grade)
        for site, kl_grade in [("01", 2), ("01", 3), ("02", 2), ("02", 3)]
        for _ in range(12)
    ]

    def randomize(code: str) -> Randomization:
        try:
            return randomize_subject(study, code, "ines")
        finally:
            connection.close()  # each thread has its own connection

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(randomize, codes))

    assert sorted(result.subject for result in results) == sorted(codes)
    allocations = Allocation.objects.select_related("slot__stratum", "subject")
    assert allocations.count() == len(codes)
    assert len({allocation.slot_id for allocation in allocations}) == len(codes)
    seqs = defaultdict(list)
    for allocation in allocations:
        seqs[allocation.slot.stratum.key].append(allocation.slot.seq)
    assert {key: sorted(used) for key, used in seqs.items()} == {
        key: list(range(1, 13))
        for key in [
            "site=01,kl_grade=2",
            "site=01,kl_grade=3",
            "site=02,kl_grade=2",
            "site=02,kl_grade=3",
        ]
    }
    verification = verify_audit_chain()
    assert verification.ok, verification.problems


@pytest.mark.django_db
@pytest.mark.parametrize(("protocol_id", "strata"), [("NCT04208646", 14), ("NCT05933434", 2)])
def test_seed_studies_load_with_their_lists(
    django_db_setup: str, protocol_id: str, strata: int
) -> None:
    from trialdesk.store.services import create_study

    study = create_study(protocol_id, "operator:tests")
    assert Stratum.objects.filter(study=study).count() == strata
    assert verify_audit_chain().ok
