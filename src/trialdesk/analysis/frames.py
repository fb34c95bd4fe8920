"""Readings of the analysis datasets shared by the CONSORT flow, the safety tables and the
outcome figures: required columns, text cells, and the arms a dataset is grouped by.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from trialdesk.errors import BadInput


def require_columns(frame: pd.DataFrame, columns: Iterable[str], dataset: str) -> None:
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise BadInput(f"{dataset} dataset: missing column(s) {', '.join(missing)}")


def text_value(value: object) -> str | None:
    """A text cell, None when empty (None, NaN, pd.NA or only blanks)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def arm_groups(
    frame: pd.DataFrame, arms: Sequence[tuple[str, str]] | None, pooled_label: str
) -> tuple[tuple[str | None, str], ...]:
    """The columns of a flow, table or figure: each arm (id, label) in the protocol's order, or
    one pooled group (None, ``pooled_label``) when the dataset is blinded (no arm anywhere).

    Without ``arms``, the arms found in ``frame`` are taken in the order of their ids, with the
    ``arm_label`` column for labels when there is one.
    """
    known = [
        (subject, text_value(arm))
        for subject, arm in zip(frame["subject"], frame["arm"], strict=True)
    ]
    present = [(subject, arm) for subject, arm in known if arm is not None]
    if not present:
        return ((None, pooled_label),)
    if arms is None:
        labels = frame["arm_label"] if "arm_label" in frame.columns else frame["arm"]
        found: dict[str, str] = {}
        for arm, label in zip(frame["arm"], labels, strict=True):
            if text_value(arm) is not None:
                found.setdefault(str(arm), text_value(label) or str(arm))
        return tuple(sorted(found.items()))
    ids = [arm_id for arm_id, _ in arms]
    if len(set(ids)) != len(ids) or not ids:
        raise BadInput(f"arms {ids}: expected the protocol's arms, each id once")
    for subject, arm in present:
        if arm not in ids:
            raise BadInput(
                f"subject {subject}: arm {arm!r} is not an arm of the protocol; "
                f"expected one of {', '.join(ids)}"
            )
    return tuple((arm_id, label) for arm_id, label in arms)
