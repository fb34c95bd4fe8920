"""The REST API of trialdesk at /api/v1 (django-ninja), with its OpenAPI document and docs page.

Every endpoint needs `Authorization: Bearer <token>` (`trialdesk token create`); the OpenAPI
document (/api/v1/openapi.json) and the docs page (/api/v1/docs) do not. Reads go through
`trialdesk.store.access` (site scope, blinding); writes call the services only.
"""

from __future__ import annotations

from typing import Any

from ninja import NinjaAPI
from ninja.openapi.schema import OpenAPISchema

from trialdesk.web.api import (
    exports,
    locks,
    patient_reports,
    protocol,
    queries,
    safety,
    sdv,
    signatures,
    studies,
    subjects,
    visits,
    work_queue,
)
from trialdesk.web.api.auth import ApiTokenAuth
from trialdesk.web.api.errors import add_error_handlers, declare_error_answers


class TrialdeskApi(NinjaAPI):
    """django-ninja's API whose OpenAPI document declares every error answer an operation can
    give (`declare_error_answers`), not only those its handler lists."""

    def get_openapi_schema(self, **options: Any) -> OpenAPISchema:
        return declare_error_answers(super().get_openapi_schema(**options))  # type: ignore[return-value]


api = TrialdeskApi(
    title="trialdesk",
    version="1",
    description="Randomized, blinded clinical trials: subjects, visits, forms, adverse events, "
    "audit trail. Blinded users never receive an arm.",
    auth=ApiTokenAuth(),
    urls_namespace="api-v1",
)
add_error_handlers(api)
for area in (
    studies,
    protocol,
    subjects,
    visits,
    safety,
    work_queue,
    sdv,
    queries,
    signatures,
    locks,
    patient_reports,
    exports,
):
    api.add_router("", area.router)
