"""Errors as HTTP answers: `{"detail": "..."}` carrying the service's message.

Bad input is 400, an unknown (or unreadable) study or subject 404, a role that does not allow
the step 403, a step the record's state refuses (locked study, subject status, duplicate) 409.
The services' messages never name an arm, so they are passed on as they are.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError

from trialdesk.errors import BadInput, TrialdeskError
from trialdesk.store.errors import (
    AlreadyExists,
    NotFound,
    NotPermitted,
    StudyLocked,
    SubjectStateError,
)
from trialdesk.web.api.schemas import ErrorOut

STATUS_OF: dict[type[TrialdeskError], int] = {
    BadInput: 400,
    NotFound: 404,
    AlreadyExists: 409,
    SubjectStateError: 409,
    NotPermitted: 403,
    StudyLocked: 409,
    # Any other refusal (e.g. an exhausted allocation list) is a conflict with the store's state.
    TrialdeskError: 409,
}


#: The error answers an endpoint documents, by what it does.
READ_ERRORS = {404: ErrorOut}
WRITE_ERRORS = {400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut}


def _place(location: tuple) -> str:
    """`("body", "body", "reason")` -> `body.reason`: the handler's parameter name is left
    out, so the place is the field as the client sent it."""
    if location[:1] == ("body",):
        location = ("body", *location[2:])
    return ".".join(str(part) for part in location)


def validation_message(errors: list[dict]) -> str:
    """Pydantic's errors as one line: `body.visit_date: Input should be a valid date; ...`."""
    return "; ".join(f"{_place(tuple(error['loc']))}: {error['msg']}" for error in errors)


def http_error_message(error: HttpError) -> str:
    """django-ninja's own refusals; a body it could not parse says why and what was expected
    (ninja's message alone, "Cannot parse request body", says neither)."""
    if isinstance(error.__cause__, ValueError):  # JSON syntax, or bytes that are not UTF-8
        return f"body: {error.__cause__}; expected a JSON document"
    return str(error)


def add_error_handlers(api: NinjaAPI) -> None:
    def answer(request: HttpRequest, detail: str, status: int) -> HttpResponse:
        return api.create_response(request, {"detail": detail}, status=status)

    def handler(status: int) -> Callable[[HttpRequest, TrialdeskError], HttpResponse]:
        return lambda request, error: answer(request, str(error), status)

    for error_class, status in STATUS_OF.items():
        api.add_exception_handler(error_class, handler(status))
    api.add_exception_handler(
        ValidationError,
        lambda request, error: answer(request, validation_message(error.errors), 400),
    )
    api.add_exception_handler(
        HttpError,
        lambda request, error: answer(request, http_error_message(error), error.status_code),
    )


# ---------------------------------------------------------------- the answers the document declares

#: What each error answer means, as the OpenAPI document says it.
ERROR_MEANINGS = {
    400: "bad input, naming the field (`body.reason`, `query.offset`, `path`) and what was "
    "expected; also a Host header this server does not answer to (TRIALDESK_ALLOWED_HOSTS)",
    401: "no token, or an unknown or revoked one",
    403: "the user's role may not take this step or see this",
    404: "an unknown study or subject, or one outside the user's sites (or an unknown record)",
    409: "the study is locked, the subject's status does not allow the step, or the record "
    "exists already",
    413: "the body is larger than the server accepts",
    414: "the URL (path and query) is longer than the server accepts",
    500: "an unexpected error on the server; a write that failed changed nothing",
}
#: Answers any operation can give: bad input (at least the Host header, a NUL in the path), an
#: unusable token, a URL too long, a server error.
EVERY_OPERATION = (400, 401, 414, 500)
#: Answers of an operation with a body: too large.
WITH_BODY = (413,)
#: Answers of an operation on a study (`{study}` in its path): unknown or unreadable.
ON_A_STUDY = (404,)
ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorOut"}


def declare_error_answers(document: dict) -> dict:
    """Add to every operation of the OpenAPI `document` the error answers it can give beside
    those its handler declares (`READ_ERRORS`, `WRITE_ERRORS`), each `{"detail": ...}` JSON,
    so the document names every status a client can get."""
    document.setdefault("components", {}).setdefault("schemas", {}).setdefault(
        "ErrorOut", ErrorOut.model_json_schema()
    )
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            codes = list(EVERY_OPERATION)
            if "requestBody" in operation:
                codes += WITH_BODY
            if "{study}" in path:
                codes += ON_A_STUDY
            answers = operation.setdefault("responses", {})
            for code in codes:
                answers.setdefault(str(code), {})
            for code, answer in answers.items():
                if int(code) >= 400:
                    answer["description"] = ERROR_MEANINGS.get(int(code), "an error")
                    answer["content"] = {"application/json": {"schema": ERROR_SCHEMA}}
    return document
