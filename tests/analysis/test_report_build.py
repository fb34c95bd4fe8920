"""build_report's checks of where it writes (the report itself is tested on the store's
virtual trials in tests/store/test_report.py)."""

import pytest

from trialdesk.analysis.datasets import STUDY_KEYS, StudyExtract, build_datasets
from trialdesk.analysis.report import ReportMeta, build_report
from trialdesk.errors import BadInput
from trialdesk.protocol import load_protocol


def test_an_out_dir_that_is_a_file_is_bad_input_and_writes_nothing(tmp_path):
    protocol = load_protocol("NCT05933434")
    study = dict.fromkeys(STUDY_KEYS, "") | {"locked": False, "reopened_after_lock": False}
    datasets = build_datasets(StudyExtract(study=study), protocol)
    taken = tmp_path / "report"
    taken.write_text("not a directory", encoding="utf-8")
    meta = ReportMeta(study=protocol.id, protocol_sha256="", generated_by="statistician")
    with pytest.raises(BadInput, match="report: cannot be made a directory"):
        build_report(datasets, protocol, blinded=True, out_dir=taken, pdf=False, meta=meta)
    assert list(tmp_path.iterdir()) == [taken]
    assert taken.read_text(encoding="utf-8") == "not a directory"
