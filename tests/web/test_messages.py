"""Every word the web app writes has its Danish and Chinese translation.

The check runs the same extraction as `make messages` (Django's makemessages over each
area's views and templates, over the shared pages, and over the store's and the records'
catalogues that the pages use) on a copy, merging into the checked-in .po files, then asks
GNU msgfmt for the counts: a string added to the source without a translation shows as
untranslated, one whose English changed as fuzzy.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PAGES = Path(__file__).resolve().parents[2] / "src" / "trialdesk" / "web" / "pages"
LANGUAGES = ("da", "zh_Hans")
#: msgfmt --statistics: "25 translated messages, 1 fuzzy translation, 2 untranslated messages."
STATISTICS = re.compile(r"(\d+) (translated|fuzzy|untranslated)")


def _django_admin(*arguments: str, cwd: Path) -> None:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "trialdesk.web.settings",
        "TRIALDESK_SECRET_KEY": "messages-test",
    }
    # -P: the folder run in is not put on sys.path (store/ has a calendar.py, which would hide
    # the standard library's calendar module).
    command = [sys.executable, "-P", "-m", "django", *arguments]
    result = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _counts(po: Path) -> dict[str, int]:
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", os.devnull, str(po)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"{po}: {result.stderr}"
    return {kind: int(count) for count, kind in STATISTICS.findall(result.stderr)}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("msgfmt") is None:
        if os.environ.get("CI"):
            pytest.fail("GNU gettext (msgfmt) is not installed: apt-get install gettext")
        pytest.skip("GNU gettext (msgfmt) is not installed")
    copy = tmp_path_factory.mktemp("messages") / "pages"
    shutil.copytree(PAGES, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    areas = sorted(path.parent.name for path in copy.glob("*/locale"))
    for area in areas:
        _django_admin("makemessages", "--no-obsolete", "-l", "da", "-l", "zh_Hans", cwd=copy / area)
    ignored = [argument for area in areas for argument in ("--ignore", f"{area}/*")]
    _django_admin("makemessages", "--no-obsolete", "-l", "da", "-l", "zh_Hans", *ignored, cwd=copy)
    return copy


def _catalogues() -> list[str]:
    return sorted(
        str(po.relative_to(PAGES))
        for language in LANGUAGES
        for po in PAGES.glob(f"**/{language}/LC_MESSAGES/django.po")
    )


def test_every_area_with_words_has_both_catalogues() -> None:
    for locale in PAGES.glob("**/locale"):
        for language in LANGUAGES:
            assert (locale / language / "LC_MESSAGES" / "django.po").is_file(), (
                f"{locale}: no {language} catalogue"
            )


@pytest.mark.parametrize("catalogue", _catalogues())
def test_every_message_is_translated(extracted: Path, catalogue: str) -> None:
    counts = _counts(extracted / catalogue)
    assert counts.get("translated", 0) > 0, f"{catalogue}: nothing translated"
    assert counts.get("untranslated", 0) == 0 and counts.get("fuzzy", 0) == 0, (
        f"{catalogue}: {counts} after extracting the source's messages again "
        "(run `make messages` and translate what it adds)"
    )


def test_the_source_has_no_words_outside_a_catalogue(extracted: Path) -> None:
    """An area that writes words but has no locale folder would go untranslated silently."""
    for area in sorted(path for path in PAGES.iterdir() if (path / "templates").is_dir()):
        templates = list((area / "templates").glob("**/*.html"))
        writes_words = any("translate" in path.read_text() for path in templates)
        if writes_words:
            assert (area / "locale").is_dir(), f"{area.name}: translates words but has no locale/"


#: Catalogues outside the pages, compiled with them (`LOCALE_PATHS`): the messages to
#: patients and the records' field labels and codes that the pages show.
OTHER_AREAS = ("store", "records")


@pytest.mark.parametrize("area", OTHER_AREAS)
def test_the_other_catalogues_are_translated(tmp_path: Path, extracted: Path, area: str) -> None:
    """The same extraction as `make messages` runs in src/trialdesk/store and /records."""
    source = PAGES.parents[1] / area
    copy = tmp_path / area
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    _django_admin("makemessages", "--no-obsolete", "-l", "da", "-l", "zh_Hans", cwd=copy)
    for language in LANGUAGES:
        catalogue = copy / "locale" / language / "LC_MESSAGES" / "django.po"
        counts = _counts(catalogue)
        assert counts.get("translated", 0) > 0, f"{area} {language}: nothing translated"
        assert counts.get("untranslated", 0) == 0 and counts.get("fuzzy", 0) == 0, (
            f"{area} {language}: {counts} (run `make messages` and translate what it adds)"
        )
