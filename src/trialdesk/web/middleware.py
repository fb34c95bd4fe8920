"""Requests refused before any view runs: text carrying a NUL character.

No value of a trial holds a NUL, PostgreSQL cannot store one in a text column (the request
would fail deep in a write, as a server error) and SQLite would keep it silently. So a NUL
anywhere in the path, the query string or a JSON body is bad input, answered 400 with the
place it was found, the same on both backends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

NUL = "\x00"
#: The only way a NUL can travel in a JSON document (a raw one is not valid JSON).
JSON_NUL = b"\\u0000"
EXPECTED = "a NUL character; expected text without NUL characters"


def refuse_nul_characters(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        place = nul_place(request)
        if place is not None:
            return JsonResponse({"detail": f"{place}: {EXPECTED}"}, status=400)
        return get_response(request)

    return middleware


def nul_place(request: HttpRequest) -> str | None:
    """Where the request carries a NUL (`path`, `query.by`, `body.values.comment`), if it does."""
    if NUL in request.path:
        return "path"
    for name, values in request.GET.lists():
        if NUL in name:
            return f"query, the name {name!r}"
        if any(NUL in value for value in values):
            return f"query.{name}"
    # Cheap on every write: the body is decoded only when it may hold an escaped NUL.
    if JSON_NUL in request.body:
        try:
            return _place_in(json.loads(request.body), "body")
        except ValueError:
            return None  # not JSON: the API's parser says so
    return None


def _place_in(value: Any, place: str) -> str | None:
    if isinstance(value, str):
        return place if NUL in value else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if NUL in str(key):
            return f"{place}, the name {key!r}"
        found = _place_in(item, f"{place}.{key}")
        if found is not None:
            return found
    return None
