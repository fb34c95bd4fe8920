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
