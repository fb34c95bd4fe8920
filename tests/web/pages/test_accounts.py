"""Sign-in and sessions in the browser: lockout after 5 wrong passwords, deactivated users,
password change, two-step sign-in (TOTP), the idle timeout, CSRF refusal and the CSP, and the
`trialdesk user` commands that set passwords; each page looked at in every language and width.

The users these tests sign in as are made here (`trialdesk user add --password-stdin`), so a
lockout or a changed password never touches the shared users of `USERS`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import re
import sqlite3
import struct
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from support.browser import LANGUAGES, STEMJOINT, WIDTHS, choose_language, look

_names = itertools.count(1)
_RUN = f"{int(time.time() * 1000) % 100000}"

#: Makes coordinators at AUH with their passwords, in one child process on the served store
#: (one `trialdesk user add` per user would start Django each time).
_MAKE_USERS = """
import json, sys
from trialdesk.store.database import open_store
open_store()
from trialdesk.store.services import add_user
from trialdesk.store.services.accounts import set_password
from trialdesk.store.services.setup import find_study
study = find_study(sys.argv[1])
for name, password in json.loads(sys.argv[2]).items():
    add_user(study, name, "coordinator", "operator:web-tests", "AUH")
    set_password(name, password, "operator:web-tests")
"""

USER_PURPOSES = [
    *(
        f"{purpose}-{language}"
        for purpose in ("lock", "free", "pw", "otp", "look")
        for language in LANGUAGES
    ),
    "leaver",
    "prefs",
]


@pytest.fixture(scope="module")
def users(served: Any) -> dict[str, str]:
    """purpose -> user name of this module's own users (see USER_PURPOSES)."""
    names = {purpose: f"{purpose}-{_RUN}" for purpose in USER_PURPOSES}
    passwords = {name: password_of(name) for name in names.values()}
    result = subprocess.run(
        [sys.executable, "-c", _MAKE_USERS, STEMJOINT, json.dumps(passwords)],
        env={**os.environ, **served.environment},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return names


def new_user(served: Any, prefix: str) -> str:
    """A coordinator at AUH made with `trialdesk user add --password-stdin`."""
    name = f"{prefix}-{next(_names)}-{_RUN}"
    arguments = ["user", "add", name, "--role", "coordinator", "--study", STEMJOINT]
    arguments += ["--site", "AUH", "--password-stdin"]
    result = served.trialdesk(*arguments, stdin=password_of(name) + "\n")
    assert result.returncode == 0, result.stderr
    return name


def password_of(name: str) -> str:
    return f"Aarhus-{hashlib.sha256(name.encode()).hexdigest()[:8]}-knee"


def open_page(browser: Any, served: Any, language: str = "en", width: int = 1280) -> Any:
    context = browser.new_context(
        viewport={"width": width, "height": 900}, locale="en-GB", base_url=served.base_url
    )
    page = context.new_page()
    page.goto("/signin/")
    choose_language(page, language)
    return page


def submit_sign_in(page: Any, username: str, password: str) -> Any:
    """Fill and send the sign-in form; the answer to the POST."""
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation() as navigation:
        page.click("main button[type=submit]")
    return navigation.value


def signed_in(browser: Any, served: Any, username: str, language: str = "en", width: int = 1280):
    page = open_page(browser, served, language, width)
    submit_sign_in(page, username, password_of(username))
    assert "/signin/" not in page.url, page.inner_text("main")
    return page


# ---------------------------------------------------------------- what every page must be


class _Markup(HTMLParser):
    """What the CSP forbids, found in a page's HTML as the server sent it."""

    def __init__(self) -> None:
        super().__init__()
        self.inline_scripts = 0
        self.style_elements = 0
        self.forbidden: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name.lower() for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.inline_scripts += 1
        if tag == "style":
            self.style_elements += 1
        for name in names:
            if name == "style" or name.startswith("on") or name.startswith("hx-on"):
                self.forbidden.append(f"<{tag} {name}=...>")


def assert_strict(response: Any) -> str:
    """The answer carries the CSP (no inline script or style) and its HTML needs none."""
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "style-src 'self'" in policy, response.url
    assert "'unsafe-inline'" not in policy
    html = response.text()
    markup = _Markup()
    markup.feed(html)
    assert markup.inline_scripts == 0, f"{response.url}: inline <script>"
    assert markup.style_elements == 0, f"{response.url}: <style> element"
    assert markup.forbidden == [], f"{response.url}: {markup.forbidden}"
    return html


def look_at_widths(page: Any, name: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        look(page, f"accounts/{name}")
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


# ---------------------------------------------------------------- lockout

#: What the locked-out page says, in each language (the translations, written out here).
LOCKED = {
    "en": "is locked after 5 failed sign-ins",
    "da": "er spærret efter 5",
    "zh-hans": "已被锁定",
}
LOCKED_HEADING = {"en": "Sign-in locked", "da": "Login spærret", "zh-hans": "登录已锁定"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_five_wrong_passwords_lock_the_user_name_and_no_other(served, browser, users, language):
    locked, other = users[f"lock-{language}"], users[f"free-{language}"]
    page = open_page(browser, served, language)
    look_at_widths(page, "sign-in")
    first = submit_sign_in(page, locked, "wrong-password-1")
    assert first.status == 200 and "/signin/" in page.url
    assert page.locator("#sign-in-error").is_visible()
    assert_strict(first)
    look_at_widths(page, "sign-in-refused")
    for attempt in range(2, 5):
        assert submit_sign_in(page, locked, f"wrong-password-{attempt}").status == 200
    # The 5th wrong password locks the user name at once ...
    assert submit_sign_in(page, locked, "wrong-password-5").status == 429
    # ... and the 6th try, with the right password, is refused too.
    page.goto("/signin/")
    refused = submit_sign_in(page, locked, password_of(locked))
    assert refused.status == 429
    html = assert_strict(refused)
    assert LOCKED[language] in page.inner_text("main")
    assert LOCKED_HEADING[language] in page.inner_text("h1")
    assert locked in html
    # When to try again: 15 minutes on, written as a time of day.
    assert re.search(r"\b15\b", page.inner_text("main"))
    assert re.search(r"\d{1,2}[.:]\d{2}", page.inner_text("main"))
    look_at_widths(page, "locked-out")
    # Another user name signs in from the same browser and address.
    page.goto("/signin/")
    submit_sign_in(page, other, password_of(other))
    assert "/signin/" not in page.url
    assert "/studies/NCT05933434/" in page.url
    page.context.close()


def test_a_deactivated_user_cannot_sign_in_and_is_signed_out(served, browser, users):
    name = users["leaver"]
    page = signed_in(browser, served, name)
    result = served.trialdesk("user", "deactivate", name, "--reason", "left the study team")
    assert result.returncode == 0, result.stderr
    page.goto("/account/")
    assert "/signin/" in page.url  # the open session ended with the account
    refused = submit_sign_in(page, name, password_of(name))
    assert refused.status == 200 and "/signin/" in page.url
    assert "Please enter a correct username and password" in page.inner_text("main")
    page.context.close()


# ---------------------------------------------------------------- the account page and CSRF

#: The form-refused page's heading (web/pages/errors.py).
FORM_REFUSED = "Form refused"


def test_preferences_are_saved_and_a_post_without_csrf_token_is_refused(served, browser, users):
    name = users["prefs"]
    page = signed_in(browser, served, name)
    response = page.goto("/account/")
    assert_strict(response)
    page.select_option("#id_time_zone", "Asia/Shanghai")
    with page.expect_navigation() as saved:
        page.click("main button[type=submit]")
    assert saved.value.status == 200  # the redirect's target
    assert "Saved." in page.inner_text(".messages")
    assert page.locator("#id_time_zone").input_value() == "Asia/Shanghai"
    # A POST without the token (as another site's form would send it), with the session
    # cookie: 403, the form-refused page, nothing changed.
    forged = page.context.request.post(
        served.url("/account/"), form={"language": "da", "time_zone": "UTC"}, max_redirects=0
    )
    assert forged.status == 403
    assert FORM_REFUSED in forged.text()
    assert_strict(forged)
    page.goto("/account/")
    assert page.locator("#id_language").input_value() == ""
    assert page.locator("#id_time_zone").input_value() == "Asia/Shanghai"
    assert page.evaluate("document.documentElement.lang") == "en"
    forged = page.context.request.post(
        served.url("/account/password/"),
        form={
            "old_password": password_of(name),
            "new_password1": "Forged-password-2024",
            "new_password2": "Forged-password-2024",
        },
        max_redirects=0,
    )
    assert forged.status == 403 and FORM_REFUSED in forged.text()
    page.context.close()
    # The password is still the old one.
    signed_in(browser, served, name).context.close()


# ---------------------------------------------------------------- password change

TOO_SHORT = {  # Django's own translations of MinimumLengthValidator's message
    "en": "This password is too short. It must contain at least 12 characters.",
    "da": "Denne adgangskode er for kort. Den skal indeholde mindst 12 tegn.",
    "zh-hans": "密码长度太短。密码必须包含至少 12 个字符。",
}
CHANGED = {
    "en": "Your password was changed.",
    "da": "Din adgangskode er ændret.",
    "zh-hans": "密码已修改。",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_password_change_keeps_the_session_and_ends_the_old_password(
    served, browser, users, language
):
    name = users[f"pw-{language}"]
    page = signed_in(browser, served, name, language)
    assert_strict(page.goto("/account/"))
    look_at_widths(page, "account")
    page.click("a[href='/account/password/']")
    assert page.url.endswith("/account/password/")
    look_at_widths(page, "password-change")
    page.fill("#id_old_password", password_of(name))
    page.fill("#id_new_password1", "short-1")
    page.fill("#id_new_password2", "short-2")
    with page.expect_navigation() as refused:
        page.click("main button[type=submit]")
    assert refused.value.status == 400
    assert_strict(refused.value)
    assert TOO_SHORT[language] in page.inner_text("#new-password1-error")
    assert page.get_attribute("#id_new_password1", "aria-invalid") == "true"
    assert page.locator("#new-password2-error").is_visible()
    look_at_widths(page, "password-change-refused")
    new_password = "Copenhagen-ward-7-" + name[-5:]
    page.fill("#id_old_password", password_of(name))
    page.fill("#id_new_password1", new_password)
    page.fill("#id_new_password2", new_password)
    with page.expect_navigation():
        page.click("main button[type=submit]")
    assert page.url.endswith("/account/")
    assert CHANGED[language] in page.inner_text(".messages")
    page.goto(f"/studies/{STEMJOINT}/")  # still signed in after the change
    assert "/signin/" not in page.url
    page.context.close()
    fresh = open_page(browser, served)
    submit_sign_in(fresh, name, password_of(name))
    assert "/signin/" in fresh.url  # the old password no longer works
    submit_sign_in(fresh, name, new_password)
    assert "/signin/" not in fresh.url
    fresh.context.close()


# ---------------------------------------------------------------- two-step sign-in


def totp(secret: str, at: float, step: int = 30, digits: int = 6) -> str:
    """RFC 6238 (HMAC-SHA1, 30 s, 6 digits), by hand: the code an authenticator app shows."""
    key = base64.b32decode(secret.replace(" ", "") + "=" * (-len(secret.replace(" ", "")) % 8))
    counter = struct.pack(">Q", int(at // step))
    digest = hmac.new(key, counter, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def test_the_totp_computation_matches_rfc_6238_appendix_b():
    # RFC 6238 appendix B, SHA-1 key "12345678901234567890": T=59 -> 94287082 (8 digits).
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp(secret, 59, digits=8) == "94287082"
    assert totp(secret, 1111111109, digits=8) == "07081804"


ON = {
    "en": "Two-step sign-in is on.",
    "da": "Totrinslogin er slået til.",
    "zh-hans": "两步登录已开启。",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_totp_set_up_then_sign_in_asks_for_the_code(served, browser, users, language):
    name = users[f"otp-{language}"]
    page = signed_in(browser, served, name, language)
    response = page.goto("/account/otp/")
    assert_strict(response)
    with page.expect_navigation():
        page.click("main button[type=submit]")  # begin
    secret = page.inner_text("[data-otp-secret]")
    assert re.fullmatch(r"[A-Z2-7 ]{32,}", secret)
    qr = page.locator("img.qr-code")
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    assert qr.evaluate("img => img.naturalWidth") > 0  # the browser drew it under the CSP
    assert_strict(page.context.request.get(served.url("/account/otp/")))
    look_at_widths(page, "otp-setup")
    page.fill("#id_code", totp(secret, time.time()))
    with page.expect_navigation():
        page.click("main button[type=submit]")
    assert page.url.endswith("/account/")
    assert ON[language] in page.inner_text(".messages")
    page.context.close()

    fresh = open_page(browser, served, language)
    submit_sign_in(fresh, name, password_of(name))
    assert "/account/otp/verify/" in fresh.url
    # The study pages wait for the code.
    fresh.goto(f"/studies/{STEMJOINT}/")
    assert "/account/otp/verify/" in fresh.url
    assert_strict(fresh.context.request.get(fresh.url))
    look_at_widths(fresh, "otp-verify")
    fresh.fill("#id_code", "000000" if totp(secret, time.time()) != "000000" else "111111")
    with fresh.expect_navigation() as wrong:
        fresh.click("main button[type=submit]")
    assert wrong.value.status == 400 and fresh.locator("#code-error").is_visible()
    time.sleep(1.2)  # django-otp holds the device back a second after a wrong code
    # A code of the next time step: the one used to confirm cannot be used again.
    fresh.fill("#id_code", totp(secret, time.time() + 30))
    with fresh.expect_navigation():
        fresh.click("main button[type=submit]")
    assert f"/studies/{STEMJOINT}/" in fresh.url, fresh.inner_text("main")
    fresh.context.close()


# ---------------------------------------------------------------- the idle timeout


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_idle_warning_looks_right(served, browser, users, language):
    """The warning on the served store (30 minutes), with the page's clock moved on."""
    name = users[f"look-{language}"]
    page = signed_in(browser, served, name, language)
    page.clock.install()
    page.goto("/account/")
    page.clock.run_for("28:10")
    warning = page.locator("#idle-warning")
    warning.wait_for(state="visible")
    assert page.evaluate("document.activeElement.hasAttribute('data-idle-stay')")
    assert re.search(r"\d", page.inner_text("[data-idle-countdown]"))
    look_at_widths(page, "idle-warning")
    page.keyboard.press("Escape")
    warning.wait_for(state="hidden")
    page.context.close()


def test_an_ignored_session_ends_and_stay_signed_in_keeps_it(serve_store, browser):
    served = serve_store(TRIALDESK_IDLE_MINUTES="0.5")  # 30 s: warning after 22.5 s
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=served.base_url)
    page = context.new_page()
    page.goto("/signin/")
    submit_sign_in(page, "sj-coordinator", served.password("sj-coordinator"))
    assert f"/studies/{STEMJOINT}/" in page.url
    loaded = time.monotonic()
    page.evaluate(
        """document.addEventListener("trialdesk:session-ending",
             () => sessionStorage.setItem("ending-seen", String(Date.now())))"""
    )
    # A second session that makes no request at all: the server ends it by itself.
    other = browser.new_context(base_url=served.base_url)
    other_page = other.new_page()
    other_page.goto("/signin/")
    submit_sign_in(other_page, "sj-monitor", served.password("sj-monitor"))
    other_last_request = time.monotonic()
    other_page.close()
    assert_requests_renew_the_session_once_a_second(served, browser)

    warning = page.locator("#idle-warning")
    warning.wait_for(state="visible", timeout=30_000)
    assert 20 <= time.monotonic() - loaded <= 29
    assert page.evaluate("document.activeElement.hasAttribute('data-idle-stay')")
    with page.expect_response(lambda r: "/session/keepalive" in r.url) as kept:
        page.click("[data-idle-stay]")
    assert kept.value.status == 204
    warning.wait_for(state="hidden")
    # Past the first page's 30 s: the kept session still opens pages; the other one ended.
    time.sleep(max(0.0, loaded + 32 - time.monotonic()))
    assert "/signin/" not in context.request.get(served.url("/account/")).url
    time.sleep(max(0.0, other_last_request + 31 - time.monotonic()))
    assert "/signin/" in other.request.get(served.url("/account/")).url
    # Ignored this time: the page says the session is ending, then goes to sign-in.
    page.wait_for_url(re.compile(r"/signin/\?next="), timeout=45_000)
    query = parse_qs(urlparse(page.url).query)
    assert query["next"] == [f"/studies/{STEMJOINT}/"]
    assert page.evaluate("sessionStorage.getItem('ending-seen')") is not None
    assert "signed out because nothing happened" in page.inner_text("main")
    look(page, "accounts/sign-in-after-idle")
    assert "/signin/" in context.request.get(served.url("/account/")).url
    context.close()
    other.close()


def assert_requests_renew_the_session_once_a_second(served: Any, browser: Any) -> None:
    """With a 30 s timeout, a request renews the session (its expiry moves on) only when the
    last renewal is over 1 s old (a thirtieth of the timeout): a request right after another
    writes nothing."""
    context = browser.new_context(base_url=served.base_url)
    page = context.new_page()
    page.goto("/signin/")
    submit_sign_in(page, "sj-data-manager", served.password("sj-data-manager"))
    key = next(c["value"] for c in context.cookies() if c["name"] == "sessionid")
    database = Path(served.environment["TRIALDESK_HOME"]) / "trialdesk.sqlite3"

    def expiry() -> str:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            row = connection.execute(
                "SELECT expire_date FROM django_session WHERE session_key = ?", [key]
            ).fetchone()
        return row[0]

    signed_in = expiry()
    assert context.request.get(served.url("/account/")).ok
    assert expiry() == signed_in  # within the second: not written again
    time.sleep(1.2)
    assert context.request.get(served.url("/account/")).ok
    assert expiry() > signed_in
    context.close()


# ---------------------------------------------------------------- the CLI


def test_cli_sets_passwords_and_refuses_a_short_one(served, browser):
    name = new_user(served, "cli")  # `user add ... --password-stdin`
    page = open_page(browser, served)
    submit_sign_in(page, name, password_of(name))
    assert f"/studies/{STEMJOINT}/" in page.url
    page.context.close()

    changed = "Odense-knee-trial-" + name[-4:]
    result = served.trialdesk("user", "password", name, "--password-stdin", stdin=changed + "\n")
    assert result.returncode == 0, result.stderr
    page = open_page(browser, served)
    submit_sign_in(page, name, password_of(name))
    assert "/signin/" in page.url
    submit_sign_in(page, name, changed)
    assert "/signin/" not in page.url
    page.context.close()

    short = f"short-{next(_names)}"
    result = served.trialdesk(
        "user",
        "add",
        short,
        "--role",
        "coordinator",
        "--site",
        "AUH",
        "--study",
        STEMJOINT,
        "--password-stdin",
        stdin="Knee-42\n",
    )
    assert result.returncode == 2
    assert "too short" in result.stderr + result.stdout
    listed = served.trialdesk("user", "list", "--study", STEMJOINT, "--json")
    assert listed.returncode == 0, listed.stderr
    assert short not in json.dumps(json.loads(listed.stdout))
