"""The data manager's pages: load a protocol into a new study, manage a study (sites, users
and roles, API tokens, lock), and read its audit trail.

Who may use which page is `trialdesk.web.pages.data.management`'s docstring: loading a
protocol is for a user who holds `admin` in some study (the creator becomes the new study's
admin); managing a study is for its study-wide admins and data managers; its audit trail is
for `navigation.AUDIT_READERS`. Every step is a `trialdesk.store.services` call with
`by=<the signed-in user>`; a refusal is shown with the service's message under a translated
heading, and the fields are checked here first with messages in the user's language.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from trialdesk.errors import ProtocolError, TrialdeskError
from trialdesk.store.access import Access
from trialdesk.store.audit_log import CSV_COLUMNS, AuditFilter, csv_row
from trialdesk.store.errors import DatabaseLockRefused
from trialdesk.store.models import Role, Site, StudyUser
from trialdesk.store.services import add_site, add_user, create_study, lock_study, unlock_study
from trialdesk.store.services.accounts import set_password
from trialdesk.store.services.setup import USERNAME_LENGTH, deactivate_user, revoke_role
from trialdesk.store.services.tokens import create_token, revoke_token
from trialdesk.web.pages.context import staff_page, study_access, study_key, study_user
from trialdesk.web.pages.data import management
from trialdesk.web.pages.navigation import render_study_page
from trialdesk.web.pages.refusals import refusal

#: Largest protocol file accepted (the shipped ones are about 30 kB).
PROTOCOL_FILE_LIMIT = 1_000_000
AUDIT_PAGE_SIZE = 100
REASON_LIMIT = 2000


# ---------------------------------------------------------------- load a protocol


@staff_page
@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    """Load a protocol into a new study: an uploaded YAML file or a shipped protocol. Every
    problem of the file is shown with its line, as the protocol loader names it.

    Who may: a user who holds a live `admin` role in some study (a new study belongs to no
    existing study, so none of their data managers decides it); everyone else gets 403. The
    creator becomes the new study's admin, study-wide, and manages it from there.
    """
    from trialdesk.protocol import shipped_protocol_ids

    user = study_user(request)
    if not management.may_load_protocols(user):
        raise PermissionDenied(_("Loading a protocol is for a study's administrator."))
    context: dict[str, Any] = {
        "shipped": shipped_protocol_ids(),
        "errors": {},
        "chosen": "",
        "problems": [],
        "problem_file": "",
    }
    if request.method == "GET":
        return render(request, "pages/data/setup.html", context)

    source = request.POST.get("source", "")
    reference, text = "", None
    if source == "upload":
        upload = request.FILES.get("protocol_file")
        if upload is None or not upload.size:
            context["errors"]["protocol_file"] = _("Protocol file: choose a YAML file.")
        elif upload.size > PROTOCOL_FILE_LIMIT:
            context["errors"]["protocol_file"] = _(
                "Protocol file: at most 1 MB expected; this file is larger."
            )
        else:
            reference = upload.name or "protocol.yaml"
            try:
                text = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                context["errors"]["protocol_file"] = _(
                    "Protocol file: expected UTF-8 text (a YAML file)."
                )
    elif source == "shipped":
        reference = request.POST.get("shipped", "")
        context["chosen"] = reference
        if reference not in context["shipped"]:
            context["errors"]["shipped"] = _("Shipped protocol: choose one of the list.")
    else:
        context["errors"]["source"] = _("Choose a file or a shipped protocol.")
    if context["errors"]:
        return render(request, "pages/data/setup.html", context, status=400)

    try:
        study = create_study(reference, user.username, text=text)
        add_user(study, user.username, Role.ADMIN, user.username)
    except ProtocolError as error:
        context["problems"] = error.problems
        context["problem_file"] = reference
        return render(request, "pages/data/setup.html", context, status=400)
    except TrialdeskError as error:
        context["refusal"] = refusal(error)
        return render(request, "pages/data/setup.html", context, status=refusal(error).status)
    messages.success(
        request,
        _("Study %(study)s version %(version)s was created; you are its administrator.")
        % {"study": study.protocol_id, "version": study.version},
    )
    return redirect(reverse("pages:manage", args=[study_key(study)]))


# ---------------------------------------------------------------- manage a study


def _managed(request: HttpRequest, study: str) -> Access:
    access = study_access(request, study)
    if not management.may_manage(access):
        raise PermissionDenied(_("Managing a study is for its administrators and data managers."))
    return access


def _render_manage(
    request: HttpRequest,
    template: str,
    access: Access,
    section: str,
    context: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    sections = [
        ("manage", _("Overview")),
        ("manage-sites", _("Sites")),
        ("manage-users", _("Users and roles")),
        ("manage-tokens", _("API tokens")),
        ("manage-lock", _("Lock")),
    ]
    key = study_key(access.study)
    page = {
        "sections": [
            {
                "label": label,
                "url": reverse(f"pages:{name}", args=[key]),
                "current": name == section,
            }
            for name, label in sections
        ],
        "may_load_protocols": management.may_load_protocols(access.user),
        "errors": {},
        **(context or {}),
    }
    return render_study_page(request, template, access, "manage", page, status=status)


def _back(access: Access, name: str, *args: str) -> HttpResponse:
    return redirect(reverse(f"pages:{name}", args=[study_key(access.study), *args]))


def _reason(request: HttpRequest, errors: dict[str, str], required: bool = True) -> str:
    reason = request.POST.get("reason", "").strip()
    if required and not reason:
        errors["reason"] = _("Reason: write why (it is kept in the audit trail).")
    elif len(reason) > REASON_LIMIT:
        errors["reason"] = _("Reason: at most %(limit)s characters expected.") % {
            "limit": REASON_LIMIT
        }
    return reason


@staff_page
def manage(request: HttpRequest, study: str) -> HttpResponse:
    """The study at a glance: lock state, sites, users, tokens, with links to each part."""
    access = _managed(request, study)
    users = management.study_users(access.study)
    context = {
        "site_count": Site.objects.filter(study=access.study).count(),
        "protocol_site_count": len(access.study.protocol().sites),
        "active_users": sum(1 for row in users if row.active and row.live_roles),
        "live_tokens": sum(
            1 for token in management.study_tokens(access.study) if not token.revoked_at
        ),
    }
    return _render_manage(request, "pages/data/manage.html", access, "manage", context)


@staff_page
@require_http_methods(["GET", "POST"])
def sites(request: HttpRequest, study: str) -> HttpResponse:
    """The study's open sites; open one of the protocol's, or a new code (the service says
    when the protocol's randomization allows no site it does not list)."""
    access = _managed(request, study)
    errors: dict[str, str] = {}
    typed = {"code": "", "name": ""}
    context: dict[str, Any] = {}
    unopened = management.unopened_protocol_sites(access.study)
    if request.method == "POST":
        kind = request.POST.get("form", "")
        name: str | None = None
        if kind == "protocol":
            code = request.POST.get("protocol_site", "")
            if code not in {site for site, _name in unopened}:
                errors["protocol_site"] = _("Protocol site: choose one of the list.")
        else:
            code = request.POST.get("code", "").strip().upper()
            name = request.POST.get("name", "").strip() or None
            typed = {"code": code, "name": name or ""}
            if not code:
                errors["code"] = _("Site code: 2 to 6 capital letters or digits expected.")
        if not errors:
            try:
                site = add_site(access.study, code, access.user.username, name)
            except TrialdeskError as error:
                context["refusal"] = refusal(error)
            else:
                messages.success(request, _("Site %(code)s was opened.") % {"code": site.code})
                return _back(access, "manage-sites")
    context.update(
        {
            "sites": management.study_sites(access.study),
            "unopened": unopened,
            "errors": errors,
            "typed": typed,
        }
    )
    status = 400 if errors else (context["refusal"].status if "refusal" in context else 200)
    return _render_manage(request, "pages/data/sites.html", access, "manage-sites", context, status)


@staff_page
@require_http_methods(["GET", "POST"])
def users(request: HttpRequest, study: str) -> HttpResponse:
    """The study's users with their roles; add a user (new or known) with a role, study-wide
    or at a site, and, for a user who has none yet, an initial password."""
    access = _managed(request, study)
    errors: dict[str, str] = {}
    typed = {"username": "", "role": "", "site": ""}
    context: dict[str, Any] = {}
    open_sites = list(Site.objects.filter(study=access.study).order_by("code"))
    if request.method == "POST":
        username = request.POST.get("username", "").strip()
        role = request.POST.get("role", "")
        site_code = request.POST.get("site", "") or None
        password = request.POST.get("password", "")
        typed = {"username": username, "role": role, "site": site_code or ""}
        if not username or len(username) > USERNAME_LENGTH:
            errors["username"] = _("User name: 1 to %(limit)s characters expected.") % {
                "limit": USERNAME_LENGTH
            }
        if role not in Role.values:
            errors["role"] = _("Role: choose one of the list.")
        if site_code is not None and site_code not in {site.code for site in open_sites}:
            errors["site"] = _("Site: choose study-wide or one of the open sites.")
        known = StudyUser.objects.filter(username=username).first() if username else None
        if password and "username" not in errors:
            if not management.may_set_initial_password(known):
                errors["password"] = _(
                    "Password: %(user)s already has a password; they change it themselves."
                ) % {"user": username}
            else:
                try:  # Django's validators, in the user's language
                    validate_password(password, get_user_model()(username=username))
                except ValidationError as error:
                    errors["password"] = _("Password: %(problem)s") % {
                        "problem": " ".join(error.messages)
                    }
        if not errors:
            try:
                add_user(access.study, username, role, access.user.username, site_code)
                if password:
                    set_password(username, password, access.user.username)
            except TrialdeskError as error:
                context["refusal"] = refusal(error)
            else:
                messages.success(
                    request,
                    _("%(user)s is now %(role)s.")
                    % {"user": username, "role": management.role_label(role)},
                )
                return _back(access, "manage-users")
    context.update(
        {
            "users": management.study_users(access.study),
            "roles": [(role, management.role_label(role)) for role in Role.values],
            "open_sites": open_sites,
            "errors": errors,
            "typed": typed,
        }
    )
    status = 400 if errors else (context["refusal"].status if "refusal" in context else 200)
    return _render_manage(request, "pages/data/users.html", access, "manage-users", context, status)


def _user_page(
    request: HttpRequest,
    access: Access,
    target: StudyUser,
    context: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    row = next(row for row in management.study_users(access.study) if row.user.pk == target.pk)
    page = {
        "row": row,
        "target": target,
        "may_deactivate": management.may_deactivate(access.user, target),
        "typed_reason": "",
        "form": "",
        **(context or {}),
    }
    return _render_manage(request, "pages/data/user.html", access, "manage-users", page, status)


def _study_user_or_404(access: Access, username: str) -> StudyUser:
    target = management.study_user_named(access.study, username)
    if target is None:
        raise Http404(f"no user {username} in {access.study}")
    return target


@staff_page
def user_detail(request: HttpRequest, study: str, username: str) -> HttpResponse:
    """One user's roles in the study: revoke one, or deactivate the user, each with a reason."""
    access = _managed(request, study)
    return _user_page(request, access, _study_user_or_404(access, username))


@staff_page
@require_POST
def revoke(request: HttpRequest, study: str, username: str) -> HttpResponse:
    access = _managed(request, study)
    target = _study_user_or_404(access, username)
    errors: dict[str, str] = {}
    role = request.POST.get("role", "")
    site_code = request.POST.get("site", "") or None
    reason = _reason(request, errors)
    form = f"revoke-{role}-{site_code or ''}"
    if not errors:
        try:
            revoke_role(
                access.study, target.username, role, reason, access.user.username, site_code
            )
        except TrialdeskError as error:
            found = refusal(error)
            return _user_page(
                request, access, target, {"refusal": found, "form": form}, found.status
            )
        messages.success(
            request,
            _("The role %(role)s of %(user)s was revoked.")
            % {"role": management.role_label(role), "user": target.username},
        )
        return _back(access, "manage-user", target.username)
    context = {"errors": errors, "form": form, "typed_reason": reason}
    return _user_page(request, access, target, context, 400)


@staff_page
@require_POST
def deactivate(request: HttpRequest, study: str, username: str) -> HttpResponse:
    access = _managed(request, study)
    target = _study_user_or_404(access, username)
    if not management.may_deactivate(access.user, target):
        raise PermissionDenied(
            _("%(user)s works in studies you do not manage: revoke their roles here instead.")
            % {"user": target.username}
        )
    errors: dict[str, str] = {}
    reason = _reason(request, errors)
    if not errors:
        try:
            deactivate_user(target.username, reason, access.user.username)
        except TrialdeskError as error:
            found = refusal(error)
            return _user_page(
                request, access, target, {"refusal": found, "form": "deactivate"}, found.status
            )
        messages.success(request, _("%(user)s was deactivated.") % {"user": target.username})
        return _back(access, "manage-user", target.username)
    context = {"errors": errors, "form": "deactivate", "typed_reason": reason}
    return _user_page(request, access, target, context, 400)


@staff_page
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest, study: str) -> HttpResponse:
    """The API tokens of the study's users (prefix, created, revoked); create one, which is
    shown on this answer only and never again."""
    access = _managed(request, study)
    errors: dict[str, str] = {}
    context: dict[str, Any] = {"typed": {"username": "", "label": ""}}
    active = [
        row.user for row in management.study_users(access.study) if row.active and row.live_roles
    ]
    if request.method == "POST":
        username = request.POST.get("username", "")
        label = request.POST.get("label", "").strip()
        context["typed"] = {"username": username, "label": label}
        if username not in {user.username for user in active}:
            errors["username"] = _("User: choose one of the study's active users.")
        if len(label) > 200:
            errors["label"] = _("Label: at most 200 characters expected.")
        if not errors:
            try:
                context["new_token"] = create_token(username, access.user.username, label)
                context["new_token_user"] = username
                context["typed"] = {"username": "", "label": ""}
            except TrialdeskError as error:
                context["refusal"] = refusal(error)
    context.update(
        {"tokens": management.study_tokens(access.study), "active_users": active, "errors": errors}
    )
    status = 400 if errors else (context["refusal"].status if "refusal" in context else 200)
    response = _render_manage(
        request, "pages/data/tokens.html", access, "manage-tokens", context, status
    )
    response["Cache-Control"] = "no-store"
    return response


@staff_page
@require_POST
def token_revoke(request: HttpRequest, study: str) -> HttpResponse:
    access = _managed(request, study)
    prefix = request.POST.get("prefix", "")
    if prefix not in {token.prefix for token in management.study_tokens(access.study)}:
        raise Http404(f"no API token {prefix} of a user of {access.study}")
    try:
        revoked = revoke_token(prefix, access.user.username)
    except TrialdeskError as error:
        found = refusal(error)
        context = {
            "refusal": found,
            "tokens": management.study_tokens(access.study),
            "active_users": [],
            "typed": {"username": "", "label": ""},
        }
        return _render_manage(
            request, "pages/data/tokens.html", access, "manage-tokens", context, found.status
        )
    messages.success(
        request,
        _("The API token %(prefix)s of %(user)s was revoked.")
        % {"prefix": revoked.prefix, "user": revoked.user.username},
    )
    return _back(access, "manage-tokens")


@staff_page
@require_http_methods(["GET", "POST"])
def lock(request: HttpRequest, study: str) -> HttpResponse:
    """Lock or unlock the study's database, in two steps: the reason, then a confirmation.
    Unlocking needs a reason; a lock's reason is optional (the service keeps it). A lock the
    service refuses (open or answered queries, unsigned casebooks: its message gives the
    counts) is offered once more with an override, which needs its own reason."""
    access = _managed(request, study)
    study_row = access.study
    errors: dict[str, str] = {}
    context: dict[str, Any] = {"typed_reason": "", "typed_override": "", "confirming": False}
    if request.method == "POST":
        unlocking = study_row.locked
        step = request.POST.get("step")
        reason = _reason(request, errors, required=unlocking)
        override = "" if unlocking else request.POST.get("override_reason", "").strip()
        if step == "override" and not override:
            errors["override_reason"] = _(
                "Reason for the override: write why the database is locked anyway."
            )
        elif len(override) > REASON_LIMIT:
            errors["override_reason"] = _("Reason: at most %(limit)s characters expected.") % {
                "limit": REASON_LIMIT
            }
        context.update(typed_reason=reason, typed_override=override)
        if errors and step == "override":
            context["override_offered"] = True
        if not errors and step in ("confirm", "override"):
            try:
                if unlocking:
                    unlock_study(study_row, reason, access.user.username)
                else:
                    lock_study(study_row, access.user.username, reason, override_reason=override)
            except DatabaseLockRefused as error:
                context["refusal"] = refusal(error)
                context["override_offered"] = True
            except TrialdeskError as error:
                context["refusal"] = refusal(error)
            else:
                messages.success(
                    request,
                    _("The study was unlocked.") if unlocking else _("The study was locked."),
                )
                return _back(access, "manage-lock")
        elif not errors:
            context["confirming"] = True
    context["errors"] = errors
    status = 400 if errors else (context["refusal"].status if "refusal" in context else 200)
    return _render_manage(request, "pages/data/lock.html", access, "manage-lock", context, status)


# ---------------------------------------------------------------- the audit trail


def _day(value: str, field: str, errors: dict[str, str]) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors[field] = _("%(field)s: a date expected, e.g. 2025-03-01.") % {
            "field": _("From") if field == "since" else _("To")
        }
        return None


@staff_page
def audit(request: HttpRequest, study: str) -> HttpResponse:
    """The study's audit trail as the user may read it (`Access.audit_events()`), filtered by
    subject, user, action and days (in the user's time zone), 100 events a page, newest or
    oldest first; `?format=csv` gives the filtered events with the columns of
    `trialdesk audit log --csv`."""
    access = study_access(request, study)
    if not management.may_read_audit(access):
        raise PermissionDenied(
            _("The audit trail is for monitors, data managers and administrators.")
        )
    query = request.GET
    errors: dict[str, str] = {}
    typed = {
        name: query.get(name, "").strip()
        for name in ("subject", "user", "action", "since", "until")
    }
    since = _day(typed["since"], "since", errors)
    until = _day(typed["until"], "until", errors)
    if since and until and since > until:
        errors["until"] = _("To: a day on or after the From day expected.")
    order = "oldest" if query.get("order") == "oldest" else "newest"
    readable = access.audit_events()
    chosen = AuditFilter(
        typed["subject"] or None, typed["user"] or None, typed["action"] or None, since, until
    )
    events = chosen.apply(readable, timezone.get_current_timezone()).order_by(
        "seq" if order == "oldest" else "-seq"
    )
    if errors:
        events = events.none()
    if query.get("format") == "csv" and not errors:
        return _audit_csv(access, events)

    paginator = Paginator(events, AUDIT_PAGE_SIZE)
    page = paginator.get_page(query.get("page"))
    kept = query.copy()
    kept.pop("page", None)
    kept.pop("format", None)
    actions = sorted(set(readable.values_list("action", flat=True).distinct()))
    families = sorted({action.split(".")[0] + ".*" for action in actions if "." in action})
    context = {
        "events": page,
        "paginator": paginator,
        "typed": typed,
        "order": order,
        "errors": errors,
        "users": sorted(set(readable.values_list("by", flat=True).distinct())),
        "actions": families + actions,
        "query": kept.urlencode(),
        "filtered": any(typed.values()),
    }
    return render_study_page(
        request, "pages/data/audit.html", access, "audit", context, status=400 if errors else 200
    )


class _Echo:
    """A file-like object whose write returns the line, for streaming CSV."""

    def write(self, text: str) -> str:
        return text


def _audit_csv(access: Access, events: Any) -> StreamingHttpResponse:
    def rows() -> Iterator[str]:
        writer = csv.writer(_Echo())
        yield writer.writerow(CSV_COLUMNS)
        for event in events.iterator(chunk_size=2000):
            yield writer.writerow(csv_row(event))

    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    name = f"audit-{study_key(access.study).replace('@', '-')}-{stamp}.csv"
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
