"""Source data verification of a subject's saved forms: where it stands per form and item, and
a monitor's verification of items or of a whole form (`trialdesk.store.services.sdv`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from django.http import HttpRequest
from ninja import Field, Router, Schema

from trialdesk.store.sdv_status import FormSdv, SdvState, form_sdv, subject_sdv
from trialdesk.store.services.sdv import verify_form, verify_items
from trialdesk.web.api.context import SUBJECT, subject_for
from trialdesk.web.api.errors import READ_ERRORS, WRITE_ERRORS
from trialdesk.web.api.schemas import BodyIn, codes, declared

router = Router(tags=["source data verification"])

FORM_SDV = SUBJECT + "/visits/{visit_id}/forms/{form}/sdv"


class ItemSdvOut(Schema):
    item: str
    required: bool = Field(description="the study's SDV plan asks to verify it")
    verified: bool = Field(description="verified, and the value has not changed since")
    verified_by: str = Field(description="who verified it last; empty: never verified")
    verified_at: dt.datetime | None
    reset_at: dt.datetime | None = Field(
        description="when a change of the value reset the verification: to verify again"
    )


class FormSdvOut(Schema):
    visit: str
    form: str
    state: str = declared(**codes([state.value for state in SdvState]))
    required: list[str] = Field(description="the items the plan asks to verify")
    verified: list[str] = Field(description="the required items verified")
    reset: list[str] = Field(description="items whose verification a change reset")
    items: list[ItemSdvOut] = Field(description="every item with a saved value")


class VerifyItemsIn(BodyIn):
    items: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=1, max_length=500, description="item ids of the form, each with a saved value"
    )


def _out(sdv: FormSdv) -> dict:
    return {
        "visit": sdv.visit_id,
        "form": sdv.form,
        "state": sdv.state.value,
        "required": list(sdv.required),
        "verified": list(sdv.verified),
        "reset": list(sdv.reset),
        "items": [
            {
                "item": item.item,
                "required": item.required,
                "verified": item.verified,
                "verified_by": item.verified_by,
                "verified_at": item.verified_at,
                "reset_at": item.reset_at,
            }
            for item in sdv.items
        ],
    }


@router.get(SUBJECT + "/sdv", response={200: list[FormSdvOut], **READ_ERRORS})
def subject_forms_sdv(
    request: HttpRequest, study: str, code: str, version: str | None = None
) -> list:
    """Where SDV stands for each saved form of the subject, visit by visit."""
    access, _ = subject_for(request, study, code, version)
    return [_out(sdv) for sdv in subject_sdv(access, code)]


@router.get(FORM_SDV, response={200: FormSdvOut, **READ_ERRORS})
def form_status(
    request: HttpRequest,
    study: str,
    code: str,
    visit_id: str,
    form: str,
    version: str | None = None,
) -> dict:
    """Where SDV stands for one saved form: the items required, verified and reset."""
    access, _ = subject_for(request, study, code, version)
    return _out(form_sdv(access, code, visit_id, form))


@router.post(FORM_SDV, response={200: FormSdvOut, **WRITE_ERRORS})
def verify_whole_form(
    request: HttpRequest,
    study: str,
    code: str,
    visit_id: str,
    form: str,
    version: str | None = None,
) -> dict:
    """A monitor verifies every item of the form that has a saved value (403 for other roles
    or another site's monitor; 409 when the form, visit or casebook is locked)."""
    access, _ = subject_for(request, study, code, version)
    verify_form(access.study, code, visit_id, form, by=access.user.username)
    return _out(form_sdv(access, code, visit_id, form))


@router.post(FORM_SDV + "/items", response={200: FormSdvOut, **WRITE_ERRORS})
def verify_form_items(
    request: HttpRequest,
    study: str,
    code: str,
    visit_id: str,
    form: str,
    body: VerifyItemsIn,
    version: str | None = None,
) -> dict:
    """A monitor verifies the named items of the form (each must have a saved value)."""
    access, _ = subject_for(request, study, code, version)
    verify_items(access.study, code, visit_id, form, body.items, by=access.user.username)
    return _out(form_sdv(access, code, visit_id, form))
