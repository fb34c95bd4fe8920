"""The efficacy sections of the report: the primary analysis (observed values by visit,
then, unblinded only, the MMRM and the ANCOVA by arm) and OMERACT-OARSI responder rates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from trialdesk.analysis.datasets import AnalysisDatasets, PrimaryEndpoint
from trialdesk.analysis.report.markup import ReportBody, escape, html_table, shown_once
from trialdesk.analysis.report.tables import (
    descriptive_by_visit,
    format_ci,
    format_number,
    format_p,
    format_percent,
    model_strata,
    omeract_responders,
    primary_ancova,
    primary_mmrm,
    responder_domains,
    rows_by_arm,
)
from trialdesk.errors import AnalysisError, BadInput

if TYPE_CHECKING:
    from trialdesk.protocol import Protocol


def primary_section(
    body: ReportBody,
    datasets: AnalysisDatasets,
    protocol: Protocol,
    arms: list[tuple[str, str]] | None,
    endpoint: PrimaryEndpoint | None,
) -> None:
    body.section("primary", "Primary analysis")
    if endpoint is None:
        body.note("No outcome of the protocol has an instrument score: nothing to analyse.")
        return
    outcome = next(o for o in protocol.outcomes if o.id == endpoint.outcome_id)
    lead = (
        f"Primary outcome {outcome.id}: {outcome.measure}."
        if endpoint.is_primary_outcome
        else (
            "The primary outcome has no instrument score to analyse (it is "
            + "; ".join(o.measure for o in protocol.outcomes if o.kind == "primary")
            + f"); this section analyses the first outcome with a score, {outcome.id}: "
            f"{outcome.measure}."
        )
    )
    body.add(
        f"<p>{escape(lead)} Parameter <code>{escape(endpoint.parameter)}</code>, change from "
        "baseline (the last value on or before day 0) at visits "
        f"{escape(', '.join(endpoint.visits))}; primary visit {escape(endpoint.primary_visit)}.</p>"
    )
    body.add(_descriptive_by_visit(datasets, arms, endpoint))
    if arms is None:
        body.note(
            "Blinded report: the MMRM, the ANCOVA and every comparison between arms are "
            "left out; the table above pools all randomized patients."
        )
        return
    _mmrm_block(body, datasets, protocol, arms, endpoint)
    _ancova_block(body, datasets, protocol, arms, endpoint)


def _descriptive_by_visit(
    datasets: AnalysisDatasets, arms: list[tuple[str, str]] | None, endpoint: PrimaryEndpoint
) -> str:
    return html_table(
        shown_once(descriptive_by_visit(datasets, arms, endpoint), "Arm"),
        table_id="primary-descriptive",
        caption=f"Observed {endpoint.parameter} and change from baseline by visit (ITT)",
        text_columns=2,
    )


def _mmrm_block(
    body: ReportBody,
    datasets: AnalysisDatasets,
    protocol: Protocol,
    arms: list[tuple[str, str]],
    endpoint: PrimaryEndpoint,
) -> None:
    labels = dict(arms)
    control = protocol.control_arm()
    body.add("<h3>Mixed model for repeated measures</h3>")
    try:
        analysis = primary_mmrm(datasets, protocol, endpoint)
    except (AnalysisError, BadInput) as error:
        body.note(f"The MMRM could not be fitted: {error}")
        return
    fit = analysis.fit
    fallback = (
        " Unstructured covariance was not used: " + "; ".join(analysis.notes) + "."
        if analysis.notes
        else ""
    )
    body.add(
        f'<p id="mmrm-model" data-covariance="{fit.structure}" '
        f'data-formula="{escape(analysis.formula)}">'
        f"Change from baseline ~ <code>{escape(analysis.formula)}</code>; {analysis.covariance} "
        "covariance over visits within patient, REML, Kenward-Roger degrees of freedom and "
        f"standard errors; control arm {escape(labels[control])}. {fit.n_subjects} patients, "
        f"{fit.n_obs} observations (patients with a baseline and at least one post-baseline "
        f"value; missing visits are not imputed, missing at random is assumed).{escape(fallback)}"
        "</p>"
    )
    lsmeans = analysis.lsmeans
    # Patients with a value at each visit, of those in the fit.
    counts = fit.data.groupby(["arm", "visit"], observed=True)
    n_at = counts["subject"].nunique().to_dict()
    table = pd.DataFrame(
        {
            "Visit": lsmeans["visit"],
            "Arm": lsmeans["arm"].map(labels),
            "n": [
                str(n_at.get((a, v), 0))
                for a, v in zip(lsmeans["arm"], lsmeans["visit"], strict=True)
            ],
            "LS mean": lsmeans["estimate"].map(format_number),
            "SE": lsmeans["se"].map(format_number),
            "95% CI": [
                format_ci(lo, hi) for lo, hi in zip(lsmeans["lower"], lsmeans["upper"], strict=True)
            ],
        }
    )
    body.add(
        html_table(
            shown_once(table, "Visit"),
            table_id="mmrm-lsmeans",
            caption=f"LS mean change from baseline in {endpoint.parameter} by visit and arm",
            text_columns=2,
        )
    )
    differences = analysis.differences
    diff_table = pd.DataFrame(
        {
            "Visit": differences["visit"],
            "Comparison": [
                f"{labels[a]} − {labels[r]}"
                for a, r in zip(differences["arm"], differences["reference"], strict=True)
            ],
            "Difference": differences["estimate"].map(format_number),
            "SE": differences["se"].map(format_number),
            "95% CI": [
                format_ci(lo, hi)
                for lo, hi in zip(differences["lower"], differences["upper"], strict=True)
            ],
            "df": differences["df"].map(lambda v: format_number(v, 1)),
            "p": differences["p"].map(format_p),
        }
    )
    body.add(
        html_table(
            shown_once(diff_table, "Visit"),
            table_id="mmrm-differences",
            caption=(
                f"Difference in LS mean change from baseline to {labels[control]} (negative: "
                f"a larger decrease than on {labels[control]})"
            ),
            text_columns=2,
        )
    )


def _ancova_block(
    body: ReportBody,
    datasets: AnalysisDatasets,
    protocol: Protocol,
    arms: list[tuple[str, str]],
    endpoint: PrimaryEndpoint,
) -> None:
    labels = dict(arms)
    body.add(f"<h3>ANCOVA at {escape(endpoint.primary_visit)}</h3>")
    try:
        result, data = primary_ancova(datasets, protocol, endpoint)
    except (AnalysisError, BadInput) as error:
        body.note(f"The ANCOVA could not be fitted: {error}")
        return
    strata = model_strata(protocol, datasets.subjects)
    body.add(
        f"<p>Change from baseline at {escape(endpoint.primary_visit)} ~ arm + baseline"
        f"{''.join(' + ' + s for s in strata)}, ordinary least squares, patients with the "
        f"value at that visit ({result.n_obs} patients, {result.df_resid} residual df).</p>"
    )
    rows = []
    order = [arm.id for arm in protocol.arms]
    for effect in sorted(result.effects, key=lambda e: order.index(e.arm)):
        rows.append(
            {
                "Comparison": f"{labels[effect.arm]} − {labels[effect.reference]}",
                "n": f"{int((data['arm'] == effect.arm).sum())} vs "
                f"{int((data['arm'] == effect.reference).sum())}",
                "Difference": format_number(effect.estimate),
                "SE": format_number(effect.se),
                "95% CI": format_ci(effect.lower, effect.upper),
                "p": format_p(effect.p),
            }
        )
    body.add(
        html_table(
            pd.DataFrame(rows),
            table_id="ancova",
            caption=f"Adjusted difference in change from baseline at {endpoint.primary_visit}",
        )
    )


def responder_section(
    body: ReportBody,
    datasets: AnalysisDatasets,
    protocol: Protocol,
    arms: list[tuple[str, str]] | None,
    endpoint: PrimaryEndpoint | None,
) -> None:
    from trialdesk.analysis.responder import responder_rates

    body.section("responders", "Responders (OMERACT-OARSI)")
    if endpoint is None:
        body.note("No primary visit: responder rates are not computed.")
        return
    domains = responder_domains(datasets.outcomes)
    responders = omeract_responders(datasets, endpoint)
    if responders is None:
        body.note(
            "Neither pain nor function is collected on a 0-100 scale (WOMAC, KOOS or pain "
            "VAS): OMERACT-OARSI responder rates cannot be computed."
        )
        return
    used = ", ".join(
        f"{domain}: {choice[0]}" + (" as 100 − score" if choice[1] else "")
        for domain, choice in domains.items()
        if choice is not None
    )
    missing = [domain for domain, choice in domains.items() if choice is None]
    caveat = (
        f" Not collected: {', '.join(missing)}; a domain not collected counts as not "
        "improved, so these rates are a lower bound of the OMERACT-OARSI rate."
        if missing
        else ""
    )
    body.add(
        f"<p>Responder at {escape(endpoint.primary_visit)}: pain or function improved by at least "
        "50% and 20 points, or at least two of pain, function and patient global improved by "
        f"at least 20% and 10 points (Pham et al. 2004). Domains used: {escape(used)}."
        f"{escape(caveat)} ITT patients; a patient without the value at the visit counts as a "
        "non-responder.</p>"
    )
    rows = []
    for label, frame in rows_by_arm(responders, arms):
        rows.append(
            {"Arm": label, "Responders": format_percent(int(frame["responder"].sum()), len(frame))}
        )
    body.add(html_table(pd.DataFrame(rows), table_id="responder-rates", caption="Responder rates"))
    if arms is None:
        body.note("Blinded report: no comparison between arms.")
        return
    labels = dict(arms)
    control = protocol.control_arm()
    rates = []
    if (responders["arm"] == control).any():
        rates = responder_rates(responders["arm"], responders["responder"], control)
    by_arm = {rate.arm: rate for rate in rates}
    differences = []
    for arm_id, label in arms:
        if arm_id not in by_arm:
            continue
        rate = by_arm[arm_id]
        lower, upper = rate.newcombe
        differences.append(
            {
                "Comparison": f"{label} − {labels[control]}",
                "Risk difference (%)": format_number(100 * rate.difference, 1),
                "95% CI (Newcombe, %)": format_ci(100 * lower, 100 * upper, 1),
            }
        )
    body.add(
        html_table(
            pd.DataFrame(differences),
            table_id="responder-differences",
            caption=f"Responder rate difference to {labels[control]}",
        )
    )
