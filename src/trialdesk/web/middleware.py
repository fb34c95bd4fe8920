"""What every request goes through before any view, and every error answer on the way out.

- `answer_errors_as_json` (outermost): under /api/, an error answer made outside the API's own
  handlers (Django's 405 of a known URL, a page it renders itself) becomes `{"detail": "..."}`;
  every error of the API is JSON, whatever raised it. The web app's pages answer errors with
  pages.
- `check_request`: the `Host` header must name a host of `TRIALDESK_ALLOWED_HOSTS` (Django
  checks it only when something asks for the host, so it is asked here, for every request),
  and the URL must fit in `MAX_URL_BYTES` (414).
- `refuse_unstorable_text`: text no value of a trial holds and a database cannot store the
  same on both backends: a NUL character (PostgreSQL refuses it in a text column, SQLite keeps
  it silently), a lone UTF-16 surrogate (JSON `"\\ud800"`: not a character, so it cannot be
  encoded as UTF-8 for either database), and bodies nested deeper than `MAX_JSON_DEPTH` (a
  recursion error deep in a parser or serializer). Each is answered 400 with the place it was
  found; a body over the size limit is answered 413.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from trialdesk.web.settings import ALLOWED_HOSTS_VARIABLE

Handler = Callable[[HttpRequest], HttpResponse]

NUL = "\x00"
#: The only way a NUL can travel in a JSON document (a raw one is not valid JSON).
JSON_NUL = b"\\u0000"
EXPECTED = "a NUL character; expected text without NUL characters"
#: A `\uD800`..`\uDFFF` escape: the only way a surrogate can travel in a JSON document (raw,
#: it would be bytes that are not UTF-8, which the parser refuses).
JSON_SURROGATE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
SURROGATE = re.compile("[\ud800-\udfff]")
#: Arrays and objects inside each other: a form's values are three levels down (body, values,
#: item); 32 leaves room for any real document and none for a parser's recursion limit.
MAX_JSON_DEPTH = 32
#: Path and query string, percent-encoded. gunicorn reads request lines of up to 8190 bytes
#: (`trialdesk serve` sets its maximum) and answers longer ones itself, as plain text.
MAX_URL_BYTES = 4096
JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
BRACKETS = re.compile(rb"[\[\]{}]")


def detail(message: str, status: int) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


# ---------------------------------------------------------------- error answers as JSON

REASONS = {
    400: "bad request",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
    414: "URL too long",
    500: "server error",
}


def answer_errors_as_json(get_response: Handler) -> Handler:
    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if response.status_code < 400 or _is_json(response) or not _is_api(request):
            return response
        return _as_json(request, response)

    return middleware


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


def _as_json(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    status = response.status_code
    if status == 405:
        allowed = response.get("Allow", "")
        message = (
            f"method {request.method} is not allowed on {_shown(request.path)}; "
            f"expected one of {allowed or 'none'}"
        )
    else:
        message = f"{REASONS.get(status, 'error')} ({status}) at {_shown(request.path)}"
    answer = detail(message, status)
    for header in ("Allow", "Retry-After"):
        if header in response:
            answer[header] = response[header]
    return answer


def _shown(path: str, limit: int = 200) -> str:
    """A path as quoted in a message: never the whole of a very long one."""
    return path if len(path) <= limit else f"{path[:limit]}..."


# ---------------------------------------------------------------- host and URL


def check_request(get_response: Handler) -> Handler:
    def middleware(request: HttpRequest) -> HttpResponse:
        try:
            request.get_host()
        except DisallowedHost:
            return detail(host_message(request), 400)
        length = len(request.get_full_path().encode())
        if length > MAX_URL_BYTES:
            return detail(
                f"URL: {length} bytes (path and query); expected at most {MAX_URL_BYTES}", 414
            )
        return get_response(request)

    return middleware


def host_message(request: HttpRequest) -> str:
    host = request.META.get("HTTP_X_FORWARDED_HOST") or request.META.get("HTTP_HOST", "")
    return (
        f"Host {_shown(host, 100)!r} is not served here; expected one of "
        f"{', '.join(settings.ALLOWED_HOSTS)} (add it to {ALLOWED_HOSTS_VARIABLE})"
    )


# ---------------------------------------------------------------- text that cannot be stored


def refuse_unstorable_text(get_response: Handler) -> Handler:
    def middleware(request: HttpRequest) -> HttpResponse:
        try:
            problem = unstorable_place(request)
        except RequestDataTooBig:
            return detail(body_too_large(request), 413)
        if problem is not None:
            return detail(problem, 400)
        return get_response(request)

    return middleware


def body_too_large(request: HttpRequest) -> str:
    size = request.META.get("CONTENT_LENGTH") or "more"
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return f"body: {size} bytes; expected at most {limit} bytes"


def unstorable_place(request: HttpRequest) -> str | None:
    """What the request carries that cannot be stored, and where (`query.by: a NUL ...`)."""
    place = nul_place(request)
    if place is not None:
        return f"{place}: {EXPECTED}"
    body = request.body
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and json_depth(body) > MAX_JSON_DEPTH:
        return f"body: nested deeper than {MAX_JSON_DEPTH} levels; expected at most that many"
    if JSON_SURROGATE.search(body):
        found = _json_place(body, _surrogate_in)
        if found is not None:
            return found
    return None


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
        return _json_place(request.body, lambda text: NUL in text)
    return None


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in a JSON document, brackets inside strings aside;
    counted without recursion, so any depth is measured."""
    depth = deepest = 0
    for bracket in BRACKETS.findall(JSON_STRING.sub(b'""', body)):
        if bracket in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _surrogate_in(text: str) -> str | None:
    found = SURROGATE.search(text)
    if found is None:
        return None
    return f"a lone surrogate (U+{ord(found.group()):04X}), which is not a character; expected text"


def _json_place(body: bytes, problem: Callable[[str], Any]) -> str | None:
    """`place: problem` for the first string (value or name) of the JSON `body` where
    `problem(text)` is true (or a message); None when the body is not JSON, for the API's
    parser to say so."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return _place_in(document, "body", problem)


def _place_in(value: Any, place: str, problem: Callable[[str], Any]) -> str | None:
    if isinstance(value, str):
        return _describe(place, problem(value))
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str):
            found = _describe(f"{place}, the name {key!r}", problem(key))
            if found is not None:
                return found
        found = _place_in(item, f"{place}.{key}", problem)
        if found is not None:
            return found
    return None


def _describe(place: str, outcome: Any) -> str | None:
    if not outcome:
        return None
    return f"{place}: {outcome}" if isinstance(outcome, str) else place
