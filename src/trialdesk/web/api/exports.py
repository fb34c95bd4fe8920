"""A study's data in a standard format (`trialdesk.store.exports`), for the data manager,
the statistician and the DMC statistician: the file itself, or a ZIP of the directory an SDTM
or REDCap export is. A POST, not a GET: an export with arms is recorded in the audit trail.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import Literal

from django.http import FileResponse, HttpRequest
from ninja import Field, Router

from trialdesk.exchange import FORMATS
from trialdesk.store.exports import export_study
from trialdesk.web.api.context import study_for
from trialdesk.web.api.errors import WRITE_ERRORS
from trialdesk.web.api.schemas import BodyIn

router = Router(tags=["exports"])

FormatName = Literal["odm", "sdtm", "fhir", "redcap", "ctgov-results"]
#: Each one-file format's media type; a directory format is answered as a ZIP.
MEDIA_TYPES = {
    "odm": "application/xml",
    "fhir": "application/fhir+json",
    "ctgov-results": "application/json",
}


class ExportIn(BodyIn):
    format: FormatName = Field(description="the standard to export in")


BINARY = {"schema": {"type": "string", "format": "binary"}}


@router.post(
    "/studies/{study}/exports",
    response=WRITE_ERRORS,
    openapi_extra={
        "responses": {
            200: {
                "description": "the export: the file, or a ZIP of an sdtm or redcap directory; "
                "X-Export-Blinded says whether it has arms, X-Export-SHA256 its digest",
                "content": {
                    "application/xml": BINARY,
                    "application/zip": BINARY,
                    "application/json": {"schema": {"type": "object"}},
                    "application/fhir+json": {"schema": {"type": "object"}},
                },
            }
        }
    },
)
def export(
    request: HttpRequest, study: str, body: ExportIn, version: str | None = None
) -> FileResponse:
    """The study as the caller may see it: a blinded caller's export has no arm; one with
    arms is recorded as an unblinded output (audited). 403 for other roles."""
    access = study_for(request, study, version)
    chosen = FORMATS[body.format]
    name = f"{access.study.protocol_id}-{body.format}"
    with tempfile.TemporaryDirectory(prefix="trialdesk-export-") as scratch:
        out = Path(scratch) / (name + chosen.suffix)
        result = export_study(access, body.format, out)
        answer = tempfile.TemporaryFile()  # noqa: SIM115 (FileResponse closes it)
        if chosen.directory:
            with zipfile.ZipFile(answer, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in sorted(result.files):
                    archive.write(path, Path(name) / path.relative_to(out))
            filename, media = name + ".zip", "application/zip"
        else:
            answer.write(out.read_bytes())
            filename, media = out.name, MEDIA_TYPES[body.format]
    answer.seek(0)
    response = FileResponse(answer, as_attachment=True, filename=filename, content_type=media)
    response["X-Export-Blinded"] = "true" if result.blinded else "false"
    response["X-Export-SHA256"] = result.sha256
    response["Cache-Control"] = "private, no-store"
    return response
