"""`POST /api/v1/studies/{study}/exports` on a copy of the locked NCT05933434 virtual trial:
who may export, what a blinded and an unblinded export hold, and the record of the latter.

By hand, from the issue and docs/store.md: exports are taken by study-wide data managers,
statisticians and DMC statisticians; after the lock the statistician sees arms (so the export
is an unblinded output, recorded with the SHA-256 of its files), the data manager does not.
The SHA-256 is computed here from the answer's bytes as the exports document it: over each
file's name, a NUL byte and the SHA-256 of its content, in name order.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from support.exchange_trial import _environment, store_home

STUDY = "NCT05933434"
PROTOCOL = Path(__file__).resolve().parents[2] / "src" / "trialdesk" / "protocols"

#: Run in the store's own environment: each call's status, headers and body (base64).
CALLS = """
import base64, json, sys
from trialdesk.store.database import open_store
open_store()
from django.test import Client
from trialdesk.store.models import RoleAssignment, UnblindedOutput
from trialdesk.store.audit import verify_audit_chain
from trialdesk.store.services.tokens import create_token
coordinator = RoleAssignment.objects.filter(role="coordinator").first().user.username
answers = {}
for name, user, body in json.loads(sys.argv[1]):
    user = coordinator if user == "<coordinator>" else user
    client = Client(HTTP_HOST="127.0.0.1",
                    headers={"Authorization": "Bearer " + create_token(user, "operator:test")})
    got = client.post("/api/v1/studies/NCT05933434/exports", json.dumps(body),
                      content_type="application/json")
    content = b"".join(got.streaming_content) if got.streaming else got.content
    answers[name] = {"status": got.status_code,
                     "headers": {k.lower(): v for k, v in got.items()},
                     "body": base64.b64encode(content).decode()}
answers["outputs"] = list(UnblindedOutput.objects.order_by("pk").values("what", "input_sha256"))
answers["audit"] = verify_audit_chain().ok
print(json.dumps(answers))
"""


def _digest(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def answers(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    import base64

    home = tmp_path_factory.mktemp("export-api") / "store"
    shutil.copytree(store_home(shared_dir, STUDY, 20), home)
    calls = [
        ("blinded_odm", "data_manager", {"format": "odm"}),
        ("unblinded_sdtm", "statistician", {"format": "sdtm"}),
        ("coordinator", "<coordinator>", {"format": "odm"}),
        ("bad_format", "data_manager", {"format": "xls"}),
        ("blinded_results", "data_manager", {"format": "ctgov-results"}),
    ]
    run = subprocess.run(
        [sys.executable, "-c", CALLS, json.dumps(calls)],
        env=_environment(home),
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    for name, *_ in calls:
        found[name]["body"] = base64.b64decode(found[name]["body"])
    return found


def test_a_blinded_export_is_the_file_with_no_arm_and_its_digest(answers: dict) -> None:
    got = answers["blinded_odm"]
    assert got["status"] == 200, got["body"][:500]
    assert got["headers"]["content-type"] == "application/xml"
    assert 'filename="NCT05933434-odm.xml"' in got["headers"]["content-disposition"]
    assert got["headers"]["x-export-blinded"] == "true"
    assert got["headers"]["x-export-sha256"] == _digest({"NCT05933434-odm.xml": got["body"]})
    text = got["body"].decode()
    assert text.startswith("<?xml") and 'ODMVersion="1.3.2"' in text
    protocol = yaml.safe_load((PROTOCOL / f"{STUDY}.yaml").read_text(encoding="utf-8"))
    for arm in protocol["arms"]:
        assert not re.search(rf"\b{re.escape(arm['id'])}\b", text), arm["id"]
        assert arm["label"] not in text


def test_an_unblinded_export_is_a_zip_recorded_with_its_digest(answers: dict) -> None:
    got = answers["unblinded_sdtm"]
    assert got["status"] == 200, got["body"][:500]
    assert got["headers"]["content-type"] == "application/zip"
    assert got["headers"]["x-export-blinded"] == "false"
    archive = zipfile.ZipFile(io.BytesIO(got["body"]))
    files = {
        name.removeprefix("NCT05933434-sdtm/"): archive.read(name) for name in archive.namelist()
    }
    assert {"dm.json", "dm.xpt", "define.xml"} <= set(files)
    digest = _digest({f"NCT05933434-sdtm/{name}": body for name, body in files.items()})
    assert got["headers"]["x-export-sha256"] == digest
    assert answers["outputs"] == [{"what": "sdtm export", "input_sha256": digest}]
    dm = json.loads(files["dm.json"])
    arm_column = [c["name"] for c in dm["columns"]].index("ARMCD")
    assert {row[arm_column] for row in dm["rows"]} - {None}, "an unblinded DM names arms"
    assert answers["audit"] is True


def test_other_roles_and_formats_are_refused_naming_what_is_expected(answers: dict) -> None:
    refused = answers["coordinator"]
    assert refused["status"] == 403
    detail = json.loads(refused["body"])["detail"]
    assert "export the study's data" in detail
    assert "data_manager or dmc_statistician or statistician" in detail
    bad = answers["bad_format"]
    assert bad["status"] == 400
    assert "body.format" in json.loads(bad["body"])["detail"]
    # Results by arm need arms: the data manager's export is refused, and nothing recorded.
    results = answers["blinded_results"]
    assert results["status"] == 400
    assert len(answers["outputs"]) == 1
