"""Sign-in accounts, on SQLite and PostgreSQL: passwords (audited when, never the hash),
deactivation ends sign-in, preferences, and the TOTP second factor (confirmed with a code
computed here by RFC 6238, in one audited write)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from trialdesk.errors import BadInput
from trialdesk.store.audit import verify_audit_chain
from trialdesk.store.errors import NotFound
from trialdesk.store.models import AuditEvent, StudyUser
from trialdesk.store.services.accounts import (
    confirm_totp_device,
    remove_second_factor,
    set_password,
    set_preferences,
    start_totp_device,
    verify_password,
)
from trialdesk.store.services.setup import deactivate_user

from .conftest import OPERATOR

PASSWORD = "Skejby-knee-2024!"


def events_since(seq: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(seq__gt=seq).order_by("seq"))


def last_seq() -> int:
    event = AuditEvent.objects.order_by("-seq").first()
    return event.seq if event else 0


def totp(key: bytes, at: float) -> str:
    """RFC 6238 with HMAC-SHA1, 30-second steps, 6 digits, written out by hand."""
    digest = hmac.new(key, struct.pack(">Q", int(at // 30)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return str((struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**6).zfill(6)


def sign_in(client: Client, username: str, password: str) -> Any:
    return client.post("/signin/", {"username": username, "password": password})


@pytest.mark.django_db
def test_set_password_is_audited_without_the_hash(study: Any) -> None:
    before = last_seq()
    user = set_password("colin", PASSWORD, OPERATOR)
    account = get_user_model().objects.get(username="colin")
    assert account.password.startswith("argon2")
    assert account.check_password(PASSWORD)
    events = events_since(before)
    assert [(e.action, e.field) for e in events] == [("user.password_set", "password_set_at")]
    assert all(e.by == OPERATOR for e in events)
    for event in events:
        for text in (event.old_value, event.new_value, event.reason):
            assert PASSWORD not in text
            assert account.password not in text and "argon2" not in text
    assert user.password_set_at is not None
    assert verify_audit_chain().ok


@pytest.mark.django_db
def test_a_password_the_validators_refuse_writes_nothing(study: Any) -> None:
    before = last_seq()
    with pytest.raises(BadInput, match="too short"):
        set_password("colin", "Knee-42", OPERATOR)
    with pytest.raises(BadInput, match="entirely numeric"):
        set_password("colin", "204812345678901", OPERATOR)
    with pytest.raises(NotFound):
        set_password("nobody", PASSWORD, OPERATOR)
    assert events_since(before) == []
    assert not get_user_model().objects.filter(username="colin").exists()


@pytest.mark.django_db
def test_deactivation_ends_sign_in_and_the_open_session(study: Any) -> None:
    set_password("colin", PASSWORD, OPERATOR)
    client = Client()
    assert sign_in(client, "colin", PASSWORD).status_code == 302
    assert client.get("/account/").status_code == 200
    deactivate_user("colin", "left the study team", OPERATOR)
    colin = StudyUser.objects.get(username="colin")
    assert not verify_password(colin, PASSWORD)
    answer = client.get("/account/")
    assert answer.status_code == 302 and "/signin/" in answer["Location"]
    refused = sign_in(Client(), "colin", PASSWORD)
    assert refused.status_code == 200  # the form again, with its error
    assert "Please enter a correct username and password" in refused.content.decode()
    with pytest.raises(BadInput, match="deactivated"):
        set_password("colin", PASSWORD + "x", OPERATOR)


@pytest.mark.django_db
def test_preferences_accept_the_languages_and_iana_zones_only(study: Any) -> None:
    colin = StudyUser.objects.get(username="colin")
    set_preferences(colin, language="zh-hans", time_zone="Asia/Shanghai")
    colin.refresh_from_db()
    assert (colin.language, colin.time_zone) == ("zh-hans", "Asia/Shanghai")
    with pytest.raises(BadInput, match="language 'de'"):
        set_preferences(colin, language="de")
    with pytest.raises(BadInput, match="Europe/Aarhus"):
        set_preferences(colin, time_zone="Europe/Aarhus")
    colin.refresh_from_db()
    assert (colin.language, colin.time_zone) == ("zh-hans", "Asia/Shanghai")


@pytest.mark.django_db
def test_a_totp_device_is_confirmed_by_a_right_code_in_one_audited_write(study: Any) -> None:
    colin = set_password("colin", PASSWORD, OPERATOR)
    device = start_totp_device(colin)
    assert not device.confirmed
    secret = base64.b32encode(device.bin_key).decode()
    before = last_seq()
    with pytest.raises(BadInput, match="6 digits"):
        confirm_totp_device(colin, device.pk, "12345", by="colin")
    wrong = "000000" if totp(device.bin_key, time.time()) != "000000" else "111111"
    with pytest.raises(BadInput, match="not the device's current code"):
        confirm_totp_device(colin, device.pk, wrong, by="colin")
    assert events_since(before) == []
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed
    time.sleep(1.1)  # django-otp throttles the device for a second after a wrong code
    confirm_totp_device(colin, device.pk, totp(device.bin_key, time.time()), by="colin")
    colin.refresh_from_db()
    assert colin.totp_confirmed_at is not None
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    events = events_since(before)
    assert [(e.action, e.field, e.by) for e in events] == [
        ("user.second_factor_confirmed", "totp_confirmed_at", "colin")
    ]
    assert secret not in events[0].new_value and device.key not in events[0].new_value
    assert verify_audit_chain().ok
    # A second device replaces the first once confirmed; turning it off is audited too.
    second = start_totp_device(colin)
    time.sleep(0.01)
    confirm_totp_device(colin, second.pk, totp(second.bin_key, time.time()), by="colin")
    assert list(TOTPDevice.objects.filter(user=colin.account).values_list("pk", flat=True)) == [
        second.pk
    ]
    before = last_seq()
    remove_second_factor(colin, by="colin")
    colin.refresh_from_db()
    assert colin.totp_confirmed_at is None
    assert not TOTPDevice.objects.filter(user=colin.account).exists()
    assert [e.action for e in events_since(before)] == ["user.second_factor_removed"]
    assert verify_audit_chain().ok


@pytest.mark.django_db
def test_no_second_factor_without_a_password_or_for_another_users_device(study: Any) -> None:
    ines = StudyUser.objects.get(username="ines")
    with pytest.raises(BadInput, match="no password yet"):
        start_totp_device(ines)
    colin = set_password("colin", PASSWORD, OPERATOR)
    ines = set_password("ines", PASSWORD + "-2", OPERATOR)
    device = start_totp_device(colin)
    with pytest.raises(NotFound):
        confirm_totp_device(ines, device.pk, totp(device.bin_key, time.time()), by="ines")
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed


@pytest.mark.django_db
def test_wrong_second_factor_codes_count_toward_the_lockout(study: Any) -> None:
    colin = set_password("colin", PASSWORD, OPERATOR)
    device = start_totp_device(colin)
    confirm_totp_device(colin, device.pk, totp(device.bin_key, time.time()), by="colin")
    client = Client()
    assert sign_in(client, "colin", PASSWORD)["Location"] == "/"
    answer = client.get("/account/")
    assert answer.status_code == 302 and answer["Location"].startswith("/account/otp/verify/")
    right = {totp(device.bin_key, time.time() + shift) for shift in (-30, 0, 30, 60)}
    wrong = next(code for code in ("000000", "111111", "222222", "333333") if code not in right)
    answers = [client.post("/account/otp/verify/", {"code": wrong}) for _ in range(5)]
    assert [a.status_code for a in answers] == [400, 400, 400, 400, 429]
    assert "Sign-in locked" in answers[-1].content.decode()
    # Signed out, and the right password is refused while the lock lasts.
    assert client.get("/account/").status_code == 302
    assert sign_in(Client(), "colin", PASSWORD).status_code == 429


@pytest.mark.django_db
def test_the_account_page_refuses_what_is_not_in_its_lists_with_400(study: Any) -> None:
    set_password("colin", PASSWORD, OPERATOR)
    client = Client()
    sign_in(client, "colin", PASSWORD)
    for form in (
        {"language": "de", "time_zone": "UTC"},
        {"language": "da", "time_zone": "../etc/passwd"},
        {"language": "da", "time_zone": "Mars/Olympus_Mons"},
    ):
        answer = client.post("/account/", form)
        assert answer.status_code == 400, form
        assert 'aria-invalid="true"' in answer.content.decode()
    colin = StudyUser.objects.get(username="colin")
    assert (colin.language, colin.time_zone) == ("", "")
    assert (
        client.post("/account/", {"language": "da", "time_zone": "Europe/Copenhagen"})["Location"]
        == "/account/"
    )
    colin.refresh_from_db()
    assert (colin.language, colin.time_zone) == ("da", "Europe/Copenhagen")
