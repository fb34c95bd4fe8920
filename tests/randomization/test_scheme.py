"""Schemes from the shipped protocols and from command-line text."""

from __future__ import annotations

import pytest

from trialdesk.errors import RandomizationError
from trialdesk.protocol import load_protocol
from trialdesk.randomization.design import (
    Arm,
    Factor,
    enumerate_strata,
    parse_arms,
    parse_block_sizes,
    parse_factor,
)
from trialdesk.randomization.scheme import (
    Scheme,
    parse_factor_weights,
    scheme_from_protocol,
    with_factor_weights,
)


def test_nct04208646_is_three_arms_in_blocks_of_3_or_6_by_site_and_kl_grade_two_cycles():
    scheme = scheme_from_protocol(load_protocol("NCT04208646"))
    assert scheme.arms == (Arm("LOW"), Arm("HIGH"), Arm("PBO"))
    assert scheme.method == "blocks"
    assert scheme.block_sizes == (3, 6)
    assert [factor.id for factor in scheme.factors] == ["site", "kl_grade"]
    assert len(scheme.factors[0].levels) == 7
    assert scheme.factors[1].levels == ("2", "3")
    assert (scheme.enrollment, scheme.administrations) == (106, 2)


def test_nct05933434_is_one_site_two_arms_one_injection():
    scheme = scheme_from_protocol(load_protocol("NCT05933434"))
    assert scheme.factors[0] == Factor("site", ("AUH",))
    assert scheme.block_sizes == (2, 4)
    assert (scheme.enrollment, scheme.administrations) == (80, 1)


def test_a_protocol_without_randomization_or_sites_is_rejected():
    protocol = load_protocol("NCT05933434")
    with pytest.raises(RandomizationError, match="no 'randomization' section"):
        scheme_from_protocol(protocol.model_copy(update={"randomization": None}))
    with pytest.raises(RandomizationError, match="stratify_by_site is true but 'sites' is empty"):
        scheme_from_protocol(protocol.model_copy(update={"sites": []}))


def test_options_parse_into_arms_sizes_factors_and_weights():
    assert parse_arms("A:2, B") == (Arm("A", 2), Arm("B", 1))
    assert parse_block_sizes("3, 6") == (3, 6)
    assert parse_factor("site=01,02") == Factor("site", ("01", "02"))
    assert parse_factor_weights("site, kl:2.5") == {"site": 1.0, "kl": 2.5}
    scheme = Scheme(parse_arms("A,B"), (parse_factor("site=01,02"), parse_factor("kl=2,3")))
    assert scheme.block_sizes == (2, 4)
    weighted = with_factor_weights(scheme, {"kl": 2})
    assert [factor.weight for factor in weighted.factors] == [1.0, 2.0]
    assert enumerate_strata(scheme.factors) == (
        (("site", "01"), ("kl", "2")),
        (("site", "01"), ("kl", "3")),
        (("site", "02"), ("kl", "2")),
        (("site", "02"), ("kl", "3")),
    )


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (parse_arms, "A,,B", "--arms: 'A,,B' has an empty item"),
        (parse_block_sizes, "3,x", "--block-sizes: block size 'x' is not a whole number"),
        (parse_factor, "=01", "is not NAME=LEVEL"),
        (parse_factor_weights, "kl:heavy", "--factors: weight 'heavy' of factor 'kl'"),
    ],
)
def test_bad_option_text_is_rejected_with_the_option_name(parse, text, message):
    with pytest.raises(RandomizationError, match=message):
        parse(text)


def test_repeated_levels_and_negative_factor_weights_are_rejected():
    with pytest.raises(RandomizationError, match="factor 'site' lists a level twice"):
        Scheme(parse_arms("A,B"), (parse_factor("site=01,01"),))
    scheme = Scheme(parse_arms("A,B"), (parse_factor("kl=2,3"),))
    with pytest.raises(RandomizationError, match="weight of factor 'kl' is -1"):
        with_factor_weights(scheme, {"kl": -1})
