import math
import xml.etree.ElementTree as ElementTree

import pandas as pd
import pytest

from trialdesk.analysis.figures import (
    FigureFiles,
    mean_change_figure,
    trajectories_figure,
    waterfall_figure,
)
from trialdesk.errors import BadInput

ARMS = [("CELLS", "Cells"), ("SALINE", "Saline")]
PARAMETER = "womac.total"
# Student t quantiles t(0.975, df) from the tables.
T_975 = {1: 12.7062, 2: 4.3027}
# Changes from a baseline of 50 at W12 (day 84) and W24 (day 168); None = visit missed.
CHANGES = {
    ("a1", "CELLS"): (-10, -12),
    ("a2", "CELLS"): (-4, -8),
    ("a3", "CELLS"): (-7, None),
    ("b1", "SALINE"): (-2, -3),
    ("b2", "SALINE"): (0, None),
}


def outcomes(blinded=False):
    rows = []
    for (subject, arm), changes in CHANGES.items():
        visits = [("BL", 0, 0.0), ("W12", 84, changes[0]), ("W24", 168, changes[1])]
        for visit, day, change in visits:
            if change is None:
                continue
            rows.append(
                {
                    "subject": subject,
                    "arm": None if blinded else arm,
                    "visit": visit,
                    "visit_day": day,
                    "parameter": PARAMETER,
                    "value": 50.0 + change,
                    "baseline": 50.0,
                    "change": change,
                    "percent_change": 2.0 * change,
                    "is_baseline": day == 0,
                    "source_id": "FormRecord:1",
                    "baseline_source_id": "FormRecord:0",
                }
            )
    rows.append(rows[0] | {"parameter": "vas.pain", "value": 70.0})
    return pd.DataFrame(rows)


def svg_texts(path):
    root = ElementTree.parse(path).getroot()
    return ["".join(e.itertext()) for e in root.iter("{http://www.w3.org/2000/svg}text")]


def assert_written(result, stem):
    png, svg = result
    assert (png, svg) == (stem.parent / f"{stem.name}.png", stem.parent / f"{stem.name}.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return svg_texts(svg)


def summary_row(data, arm, visit):
    (row,) = data[(data["arm_label"] == arm) & (data["visit"] == visit)].to_dict("records")
    return row


def test_mean_change_plots_the_mean_and_t_interval_by_arm(tmp_path):
    stem = tmp_path / "womac.total.mean"
    result = mean_change_figure(outcomes(), PARAMETER, ARMS, stem, label="WOMAC total")
    assert isinstance(result, FigureFiles)
    texts = assert_written(result, stem)
    data = result.data
    assert set(data["visit"]) == {"W12", "W24"}  # baseline rows are not plotted

    cells = summary_row(data, "Cells", "W12")
    half = T_975[2] * 3.0 / math.sqrt(3)  # changes -10, -4, -7: mean -7, SD 3
    assert (cells["n"], cells["mean"], cells["sd"]) == (3, pytest.approx(-7), pytest.approx(3))
    assert (cells["lower"], cells["upper"]) == pytest.approx((-7 - half, -7 + half), abs=1e-3)
    assert cells["time"] == 12  # weeks: the schedule reaches day 168

    saline = summary_row(data, "Saline", "W12")
    half = T_975[1] * math.sqrt(2) / math.sqrt(2)  # changes -2, 0
    assert (saline["lower"], saline["upper"]) == pytest.approx((-1 - half, -1 + half), abs=1e-3)
    # Arms are dodged around the visit so that their intervals do not overlap.
    assert cells["x"] < cells["time"] < saline["x"]

    alone = summary_row(data, "Saline", "W24")
    assert alone["n"] == 1 and alone["mean"] == -3
    assert math.isnan(alone["lower"]) and math.isnan(alone["upper"])

    assert "Mean change from baseline in WOMAC total (± 95% CI)" in texts
    assert {"Cells", "Saline", "Subjects with a value (n)", "3", "2", "1"} <= set(texts)
    assert "Planned time since day 0 (weeks)" in texts


def test_mean_change_pools_blinded_data(tmp_path):
    result = mean_change_figure(outcomes(blinded=True), PARAMETER, ARMS, tmp_path / "pooled")
    data = result.data
    assert set(data["arm_label"]) == {"All subjects"}
    pooled = summary_row(data, "All subjects", "W12")
    assert (pooled["n"], pooled["mean"]) == (5, pytest.approx(-4.6))
    assert pooled["x"] == pooled["time"]


def test_trajectories_draw_each_subject_and_the_arm_mean(tmp_path):
    stem = tmp_path / "trajectories"
    result = trajectories_figure(outcomes(), PARAMETER, ARMS, stem, label="WOMAC total")
    texts = assert_written(result, stem)
    data = result.data
    baseline = summary_row(data, "Cells", "BL")
    assert (baseline["n"], baseline["mean"], baseline["time"]) == (3, 50, 0)
    assert summary_row(data, "Cells", "W24")["mean"] == pytest.approx(40)
    assert summary_row(data, "Saline", "W12")["mean"] == pytest.approx(49)
    assert {"Cells (n = 3)", "Saline (n = 2)", "One subject"} <= set(texts)


def test_waterfall_sorts_subjects_by_change_with_the_threshold(tmp_path):
    stem = tmp_path / "waterfall"
    result = waterfall_figure(
        outcomes(), PARAMETER, "W12", ARMS, stem, threshold=-5, threshold_label="MCID"
    )
    texts = assert_written(result, stem)
    data = result.data
    assert data["subject"].tolist() == ["b2", "b1", "a2", "a3", "a1"]
    assert data["change"].tolist() == [0, -2, -4, -7, -10]
    assert data["position"].tolist() == [0, 1, 2, 3, 4]
    assert {"Cells (n = 3)", "Saline (n = 2)", "MCID (\u22125 points)"} <= set(texts)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda o, p: mean_change_figure(o, "koos.pain", ARMS, p), "no rows for parameter"),
        (lambda o, p: waterfall_figure(o, PARAMETER, "W48", ARMS, p), "no change of womac"),
        (
            lambda o, p: waterfall_figure(pd.concat([o, o]), PARAMETER, "W12", ARMS, p),
            "subject a1 has several womac.total rows at visit W12",
        ),
        (
            lambda o, p: trajectories_figure(
                o.assign(arm=o["arm"].where(o["subject"] != "b2")), PARAMETER, ARMS, p
            ),
            "subject b2 has no arm",
        ),
        (
            lambda o, p: mean_change_figure(o, PARAMETER, ARMS[:1], p),
            "arm 'SALINE' is not an arm of the protocol",
        ),
    ],
)
def test_bad_outcomes_are_rejected(tmp_path, call, expected):
    with pytest.raises(BadInput, match=expected):
        call(outcomes(), tmp_path / "figure")
    assert not list(tmp_path.iterdir())
