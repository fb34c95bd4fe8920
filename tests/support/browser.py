"""What the browser tests share besides their fixtures (tests/web/conftest.py): the served
store's users, the languages and widths every page is looked at in, and `look`, which takes a
screenshot and runs axe-core."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "out" / "screenshots"
#: The README's pictures (docs/screenshots/), written by the tests that make them.
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LANGUAGES = ("en", "da", "zh-hans")
WIDTHS = (1280, 768)
STEMJOINT = "NCT05933434"
CBM = "NCT04208646"


def _password(username: str) -> str:
    """A password Django's validators accept (not like the user name)."""
    digest = hashlib.sha256(username.encode()).hexdigest()[:10]
    return f"Knee-{digest}-Trial!"


def _user(*roles: tuple[str, str, str | None]) -> dict[str, Any]:
    return {"roles": [list(role) for role in roles]}


#: The served store's users: (study, role, site or None for study-wide).
USERS: dict[str, dict[str, Any]] = {
    "sj-coordinator": _user((STEMJOINT, "coordinator", "AUH")),
    "sj-investigator": _user((STEMJOINT, "investigator", "AUH")),
    "sj-assessor": _user((STEMJOINT, "assessor", "AUH")),
    "sj-pharmacist": _user((STEMJOINT, "pharmacist", "AUH")),
    "sj-monitor": _user((STEMJOINT, "monitor", None)),
    "sj-data-manager": _user((STEMJOINT, "data_manager", None)),
    "sj-statistician": _user((STEMJOINT, "statistician", None)),
    "cb-coordinator-01": _user((CBM, "coordinator", "01")),
    "cb-coordinator-02": _user((CBM, "coordinator", "02")),
    "cb-investigator-01": _user((CBM, "investigator", "01")),
    "cb-assessor-01": _user((CBM, "assessor", "01")),
    "cb-pharmacist-01": _user((CBM, "pharmacist", "01")),
    "cb-monitor": _user((CBM, "monitor", None)),
    "cb-data-manager": _user((CBM, "data_manager", None)),
    "admin": _user((STEMJOINT, "admin", None), (CBM, "admin", None)),
}
for _name, _entry in USERS.items():
    _entry["password"] = _password(_name)
#: The printed names investigators' electronic signatures show (21 CFR 11.50).
USERS["sj-investigator"]["full_name"] = "Ines Holm, MD"
USERS["cb-investigator-01"]["full_name"] = "王丽 (Wang Li), MD"


def choose_language(page: Any, language: str) -> None:
    """Pick `language` in the header's language picker (it submits and reloads)."""
    picker = page.locator("#language-choice")
    if picker.input_value() != language:
        with page.expect_navigation():
            picker.select_option(language)


def axe_script() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()


AXE_RUN = """async () => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
  });
  return result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))}));
}"""


def accessibility_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical WCAG 2.1 A/AA violations on the page as it is now."""
    # Evaluated through the DevTools protocol: the page's CSP (no inline scripts) stays on.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_script() + "\n;undefined")
    return page.evaluate(AXE_RUN)


def page_language(page: Any) -> str:
    return page.evaluate("document.documentElement.lang")


def look(page: Any, name: str, docs: str | None = None) -> Path:
    """Screenshot the page (full page) as out/screenshots/<name>.<language>.<width>.png and run
    axe-core on it; fails on a serious or critical violation. `docs` also writes what the
    window shows (not the whole page: a README picture stays readable) to
    docs/screenshots/<docs>.png."""
    width = page.viewport_size["width"]
    path = SCREENSHOTS / f"{name}.{page_language(page)}.{width}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    if docs:
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_SCREENSHOTS / f"{docs}.png"))
    violations = accessibility_violations(page)
    assert not violations, f"{name} ({page.url}): axe-core found {json.dumps(violations, indent=1)}"
    return path
