"""CSV lists: our own round trip, and every problem of an imported list named by row and column."""

from __future__ import annotations

import io

import pytest

from trialdesk.errors import RandomizationError
from trialdesk.randomization.blocks import BlockDesign, generate_allocation_list
from trialdesk.randomization.design import Arm, Factor
from trialdesk.randomization.listfile import read_allocation_csv, write_allocation_csv

ARMS = (Arm("A"), Arm("B"))


def write(tmp_path, text: str):
    path = tmp_path / "list.csv"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path, text: str) -> list[str]:
    with pytest.raises(RandomizationError) as caught:
        read_allocation_csv(write(tmp_path, text), ARMS)
    return str(caught.value).splitlines()


def test_a_generated_list_reads_back_unchanged(tmp_path):
    factors = (Factor("site", ("01", "02")), Factor("kl", ("2", "3")))
    generated = generate_allocation_list(BlockDesign(ARMS, (2, 4), factors, 9), seed=3)
    stream = io.StringIO()
    write_allocation_csv(generated, stream)
    imported = read_allocation_csv(write(tmp_path, stream.getvalue()), ARMS)
    assert imported.algorithm == "imported-csv"
    assert imported.seed is None
    assert imported.factor_ids == ("site", "kl")
    assert imported.to_document()["strata"] == generated.to_document()["strata"]


def test_rows_may_come_in_any_order_and_the_block_columns_are_optional(tmp_path):
    imported = read_allocation_csv(write(tmp_path, "seq,arm\n2,B\n1,A\n3,A\n"), ARMS)
    stream = io.StringIO()
    write_allocation_csv(imported, stream)
    assert stream.getvalue() == "seq,arm\n1,A\n2,B\n3,A\n"
    assert imported.to_document()["strata"] == [
        {
            "stratum": {},
            "slots": [
                {"seq": 1, "arm": "A", "block": None, "block_size": None},
                {"seq": 2, "arm": "B", "block": None, "block_size": None},
                {"seq": 3, "arm": "A", "block": None, "block_size": None},
            ],
        }
    ]


def test_duplicates_unknown_arms_and_gaps_are_named_by_row_and_column(tmp_path):
    text = "site,seq,arm\n01,1,A\n01,2,B\n01,2,A\n02,1,C\n02,2,A\n01,5,A\n"
    found = problems(tmp_path, text)
    name = str(tmp_path / "list.csv")
    assert found == [
        f"{name}, row 4, column 'seq': duplicate seq 2 in stratum site=01 (first at row 3)",
        f"{name}, row 5, column 'arm': unknown arm 'C'; expected one of A, B",
        f"{name}, column 'seq': stratum site=01 has gaps: no seq 3, 4 (expected 1..5 without gaps)",
        f"{name}, column 'seq': stratum site=02 has gaps: no seq 1 (expected 1..2 without gaps)",
    ]


def test_each_block_must_hold_the_ratio_match_its_size_and_be_consecutive(tmp_path):
    text = (
        "seq,arm,block,block_size\n"
        "1,A,1,2\n2,B,1,2\n"  # fine
        "3,A,2,4\n4,A,2,4\n5,A,2,4\n6,B,2,4\n"  # 3:1 in a block of 4
        "7,A,3,4\n8,B,3,4\n"  # says 4, holds 2
        "9,A,4,2\n10,A,5,2\n11,B,4,2\n"  # block 4 resumes after block 5
    )
    found = "\n".join(problems(tmp_path, text))
    assert "rows 4-7, column 'arm': block 2 of stratum (single stratum) holds A 3, B 1" in found
    assert "rows 8-9, column 'block_size': block 3 of stratum (single stratum) has 2 slots" in found
    assert "row 12, column 'block': block 4 of stratum (single stratum) resumes" in found


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file; expected a header row"),
        ("site,arm\n01,A\n", "row 1: no column 'seq'"),
        ("seq,arm,seq\n1,A,1\n", "row 1: column 'seq' is not unique"),
        ("seq,arm,block_size\n1,A,2\n", "column 'block_size' needs a 'block' column"),
        ("seq,arm\n", "no slot rows after the header"),
        ("seq,arm\nx,A\n", "row 2, column 'seq': 'x' is not a whole number >= 1"),
        ("seq,arm\n0,A\n", "row 2, column 'seq': '0' is not a whole number >= 1"),
        ("seq,arm\n1,A,3\n", "row 2: 3 cells; expected 2"),
        ("site,seq,arm\n,1,A\n", "row 2, column 'site': empty stratum level"),
    ],
)
def test_malformed_files_are_rejected_with_the_place(tmp_path, text, message):
    assert message in "\n".join(problems(tmp_path, text))


def test_a_missing_file_is_bad_input(tmp_path):
    with pytest.raises(RandomizationError, match="cannot read"):
        read_allocation_csv(tmp_path / "nowhere.csv", ARMS)


def test_at_most_twenty_problems_are_listed(tmp_path):
    text = "seq,arm\n" + "".join(f"{i},Z\n" for i in range(1, 40))
    found = problems(tmp_path, text)
    assert len(found) == 21
    assert found[-1].endswith("... and 19 more")
