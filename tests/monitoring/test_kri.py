"""KRIs per site on a small fixed data set, every numerator, denominator, rate, limit and z
computed by hand below; an under-reporting and a late-entering site among fair ones; the
report of those KRIs (HTML, JSON, funnel SVGs; a frame with an arm refused)."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialdesk.monitoring.kri import KRI_COLUMNS, KRIS, MonitoringData, compute_kris, empty_data
from trialdesk.monitoring.report import ReportMeta, figure_name, funnel_svg, write_report
from trialdesk.monitoring.statistical_checks import CHECK_COLUMNS

D = dt.date(2025, 3, 3)


def subjects(site: str, years: list[float], failed: int, withdrawn: int) -> list[dict]:
    """Randomized subjects with these patient-years (the first `withdrawn` withdrawn), then
    `failed` screen failures."""
    rows = [
        {
            "subject": f"{site}{i}",
            "site": site,
            "screened_on": D,
            "screen_failed": False,
            "randomized": True,
            "withdrawn": i < withdrawn,
            "patient_years": y,
        }
        for i, y in enumerate(years)
    ]
    rows += [
        {
            "subject": f"{site}F{i}",
            "site": site,
            "screened_on": D,
            "screen_failed": True,
            "randomized": False,
            "withdrawn": False,
            "patient_years": 0.0,
        }
        for i in range(failed)
    ]
    return rows


def fixed_data() -> MonitoringData:
    """Site A: 4 screened, 1 screen failure, 3 randomized (1 withdrawn), 2.0 patient-years,
    2 AEs (1 serious), 1 deviation, 3 queries, 6 forms (lags 0 2 11 15 3 10), 5 visits due
    (1 missed) and 1 not due. Site B: 6 screened, 1 screen failure, 5 randomized, 4.0
    patient-years, 10 AEs (2 serious), no deviation, 1 query, 10 forms (lag 1), 8 visits due."""
    data = empty_data(
        pd.DataFrame({"site": ["A", "B"], "name": ["A", "B"], "country": ["Denmark", "China"]})
    )
    data.subjects = pd.DataFrame(
        subjects("A", [1.0, 0.5, 0.5], failed=1, withdrawn=1)
        + subjects("B", [1.0, 1.0, 1.0, 0.5, 0.5], failed=1, withdrawn=0)
    )
    data.adverse_events = pd.DataFrame(
        {
            "subject": ["A0", "A1"] + ["B0"] * 10,
            "site": ["A", "A"] + ["B"] * 10,
            "number": [1, 1, *range(1, 11)],
            "onset_date": D,
            "serious": [True, False, True, True] + [False] * 8,
        }
    )
    data.deviations = pd.DataFrame(
        {"subject": ["A0"], "site": ["A"], "kind": ["visit_out_of_window"], "detected_on": [D]}
    )
    data.queries = pd.DataFrame(
        {
            "subject": ["A0", "A0", "A1", "B0"],
            "site": ["A", "A", "A", "B"],
            "number": [1, 2, 1, 1],
            "origin": "manual",
            "status": "open",
            "opened_at": D,
        }
    )
    lags = [0, 2, 11, 15, 3, 10] + [1] * 10
    data.entries = pd.DataFrame(
        {
            "subject": ["A0"] * 6 + ["B0"] * 10,
            "site": ["A"] * 6 + ["B"] * 10,
            "visit": [f"V{i}" for i in range(16)],
            "form": "vitals",
            "visit_date": D,
            "entered_on": [D + dt.timedelta(days=lag) for lag in lags],
            "lag_days": lags,
        }
    )
    statuses = ["done"] * 4 + ["missed", "scheduled"] + ["done"] * 8
    data.visits = pd.DataFrame(
        {
            "subject": ["A0"] * 6 + ["B0"] * 8,
            "site": ["A"] * 6 + ["B"] * 8,
            "visit": [f"V{i}" for i in range(14)],
            "target_date": D,
            "actual_date": [D if s == "done" else None for s in statuses],
            "status": statuses,
            "due": [s != "scheduled" for s in statuses],
        }
    )
    return data


@pytest.fixture(scope="module")
def kris() -> pd.DataFrame:
    return compute_kris(fixed_data())


def row(kris: pd.DataFrame, site: str, kri: str) -> pd.Series:
    return kris[(kris["site"] == site) & (kris["kri"] == kri)].iloc[0]


def test_every_site_has_every_kri_with_the_documented_columns(kris: pd.DataFrame) -> None:
    assert list(kris.columns) == KRI_COLUMNS
    assert len(kris) == 2 * len(KRIS) == 16
    assert not any("arm" in column for column in kris.columns)


@pytest.mark.parametrize(
    ("kri", "site", "numerator", "denominator"),
    [
        ("ae_rate", "A", 2, 2.0),
        ("ae_rate", "B", 10, 4.0),
        ("sae_rate", "A", 1, 2.0),
        ("sae_rate", "B", 2, 4.0),
        ("deviation_rate", "A", 1, 2.0),
        ("deviation_rate", "B", 0, 4.0),
        ("query_rate", "A", 3, 6),
        ("query_rate", "B", 1, 10),
        ("screen_failure_rate", "A", 1, 4),
        ("screen_failure_rate", "B", 1, 6),
        ("data_entry_lag", "A", 2, 6),  # lags 11 and 15 are over 10 days; 10 is not
        ("data_entry_lag", "B", 0, 10),
        ("missed_visit_rate", "A", 1, 5),  # the scheduled visit is not due
        ("missed_visit_rate", "B", 0, 8),
        ("withdrawal_rate", "A", 1, 3),
        ("withdrawal_rate", "B", 0, 5),
    ],
)
def test_numerators_and_denominators(
    kris: pd.DataFrame, kri: str, site: str, numerator: float, denominator: float
) -> None:
    found = row(kris, site, kri)
    assert (found["numerator"], found["denominator"]) == (numerator, denominator)
    assert found["rate"] == pytest.approx(numerator / denominator)


def test_ae_rate_limits_and_z_by_hand(kris: pd.DataFrame) -> None:
    a, b = row(kris, "A", "ae_rate"), row(kris, "B", "ae_rate")
    # overall 12 AEs / 6.0 patient-years = 2.0; A: se = sqrt(2.0 / 2.0) = 1
    assert a["overall_rate"] == b["overall_rate"] == 2.0
    assert a["lower_95"] == pytest.approx(2.0 - 1.959964, abs=1e-6)  # 0.040036
    assert a["upper_95"] == pytest.approx(3.959964, abs=1e-6)
    assert a["lower_997"] == 0.0  # 2.0 - 2.967738 < 0
    assert a["upper_997"] == pytest.approx(4.967738, abs=1e-6)
    assert a["z"] == pytest.approx(-1.0)  # (1.0 - 2.0) / 1
    # B: se = sqrt(2.0 / 4.0) = 0.707107; z = (2.5 - 2.0) / 0.707107 = 0.707107
    assert b["z"] == pytest.approx(0.707107, abs=1e-6)
    assert b["upper_95"] == pytest.approx(2.0 + 1.959964 * 0.707107, abs=1e-6)
    assert (a["flag"], b["flag"]) == ("ok", "ok")
    assert a["unit"] == "patient-years"


def test_binomial_kris_by_hand(kris: pd.DataFrame) -> None:
    # screen failures: overall 2 / 10 = 0.2; A: se = sqrt(0.2 * 0.8 / 4) = 0.2,
    # z = (0.25 - 0.2) / 0.2 = 0.25; 95% limits 0.2 -+ 0.391993 -> (0, 0.591993)
    sf = row(kris, "A", "screen_failure_rate")
    assert sf["overall_rate"] == pytest.approx(0.2)
    assert sf["z"] == pytest.approx(0.25)
    assert (sf["lower_95"], sf["upper_95"]) == (0.0, pytest.approx(0.591993, abs=1e-6))
    # withdrawals: overall 1 / 8 = 0.125; A: se = sqrt(0.125 * 0.875 / 3) = 0.190941,
    # z = (1/3 - 0.125) / 0.190941 = 1.091089
    wd = row(kris, "A", "withdrawal_rate")
    assert wd["overall_rate"] == 0.125
    assert wd["z"] == pytest.approx(1.091089, abs=1e-6)
    # late entry: overall 2 / 16 = 0.125; A: se = sqrt(0.109375 / 6) = 0.135015,
    # z = (1/3 - 0.125) / 0.135015 = 1.543033; B: se = sqrt(0.109375 / 10) = 0.104583,
    # z = -0.125 / 0.104583 = -1.195229 (too few late forms is no risk: one-sided)
    lag_a, lag_b = row(kris, "A", "data_entry_lag"), row(kris, "B", "data_entry_lag")
    assert lag_a["z"] == pytest.approx(1.543033, abs=1e-6)
    assert lag_b["z"] == pytest.approx(-1.195229, abs=1e-6)
    assert lag_a["detail"] == "median lag 6.5 days"  # (3 + 10) / 2
    assert lag_b["detail"] == "median lag 1 days"
    # missed visits: overall 1 / 13; A: z = (0.2 - 1/13) / sqrt((1/13)(12/13) / 5)
    p0 = 1 / 13
    assert row(kris, "A", "missed_visit_rate")["z"] == pytest.approx(
        (0.2 - p0) / math.sqrt(p0 * (1 - p0) / 5)
    )


def test_deviation_rate_with_no_deviation_at_one_site(kris: pd.DataFrame) -> None:
    # overall 1 / 6.0; B: se = sqrt((1/6) / 4) = 0.204124, z = -(1/6) / 0.204124 = -0.816497
    b = row(kris, "B", "deviation_rate")
    assert b["rate"] == 0.0
    assert b["z"] == pytest.approx(-0.816497, abs=1e-6)


def test_a_site_without_subjects_has_no_data() -> None:
    data = fixed_data()
    data.sites = pd.concat(
        [data.sites, pd.DataFrame({"site": ["C"], "name": ["C"], "country": [""]})]
    )
    kris = compute_kris(data)
    assert set(kris.loc[kris["site"] == "C", "flag"]) == {"no data"}
    # C adds nothing to the overall rates
    assert row(kris, "A", "ae_rate")["overall_rate"] == 2.0


def many_sites(seed: int) -> MonitoringData:
    """12 sites of 40 subjects, a year each; AEs at 2 a patient-year, but 0.4 at site S00
    (under-reporting); forms entered 0-6 days after the visit, but 12-20 at site S01."""
    rng = np.random.default_rng(seed)
    codes = [f"S{i:02d}" for i in range(12)]
    data = empty_data(pd.DataFrame({"site": codes, "name": codes, "country": ""}))
    data.subjects = pd.DataFrame(
        [row for code in codes for row in subjects(code, [1.0] * 40, failed=4, withdrawn=2)]
    )
    ae_site = []
    for code in codes:
        ae_site += [code] * int(rng.poisson(40 * (0.4 if code == "S00" else 2.0)))
    data.adverse_events = pd.DataFrame(
        {"subject": "x", "site": ae_site, "number": 1, "onset_date": D, "serious": False}
    )
    entry_site = np.repeat(codes, 100)
    lag = rng.integers(0, 7, len(entry_site))
    lag = np.where(entry_site == "S01", rng.integers(12, 21, len(entry_site)), lag)
    data.entries = pd.DataFrame(
        {
            "subject": "x",
            "site": entry_site,
            "visit": "V",
            "form": "f",
            "visit_date": D,
            "entered_on": D,
            "lag_days": lag,
        }
    )
    return data


def test_under_reporting_and_late_entry_are_signals_fair_sites_are_not() -> None:
    kris = compute_kris(many_sites(seed=3))
    ae = kris[kris["kri"] == "ae_rate"].set_index("site")
    lag = kris[kris["kri"] == "data_entry_lag"].set_index("site")
    assert (ae.at["S00", "flag"], ae.at["S00", "direction"]) == ("signal", "low")
    assert (lag.at["S01", "flag"], lag.at["S01", "direction"]) == ("signal", "high")
    fair = [f"S{i:02d}" for i in range(2, 12)]
    assert "signal" not in set(ae.loc[fair, "flag"]) | set(lag.loc[fair, "flag"])


META = ReportMeta("KNEE-TEST", "mona", "2025-03-03T10:00:00+00:00", "2025-03-03")


def test_report_files(tmp_path: Path) -> None:
    kris = compute_kris(fixed_data())
    files = write_report(tmp_path, kris, pd.DataFrame(columns=CHECK_COLUMNS), META)
    assert sorted(path.name for path in files.figures) == sorted(figure_name(k) for k in KRIS)
    written = json.loads(files.json.read_text(encoding="utf-8"))  # strict JSON: no NaN
    assert written["blinded"] is True and written["scope"] == "all sites"
    assert len(written["kris"]) == 16 and written["checks"] == []
    # site A's SAE rate: 1 / 2.0 patient-years; the deviation rate's lower 99.7% limit is 0
    sae = next(r for r in written["kris"] if (r["site"], r["kri"]) == ("A", "sae_rate"))
    assert sae["rate"] == 0.5
    html = files.html.read_text(encoding="utf-8")
    assert 'src="funnel-ae-rate.svg"' in html and "No statistical check could run" in html
    assert "Blinded: nothing in this report is by arm." in html


def test_funnel_svg_and_its_words() -> None:
    kris = compute_kris(fixed_data())
    svg = funnel_svg(kris, "ae_rate", {"limits_95": "95%-grænser"}, title="UH-rate")
    assert svg.startswith(b"<?xml") and b"<svg" in svg
    assert "95%-grænser".encode() in svg and b"UH-rate" in svg


def test_a_frame_with_an_arm_is_refused(tmp_path: Path) -> None:
    kris = compute_kris(fixed_data()).assign(arm="LOW")
    with pytest.raises(ValueError, match="blinded"):
        write_report(tmp_path, kris, pd.DataFrame(columns=CHECK_COLUMNS), META)
    with pytest.raises(ValueError, match="blinded"):
        funnel_svg(kris, "ae_rate")
