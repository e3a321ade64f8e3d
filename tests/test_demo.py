"""`cdp-bot demo` end to end (issue 12 item 6): it runs the real app against the emulator with no Slack
token, exits 0, prints what each person saw, and writes a page a headless browser loads without a
console error, with its sections and its charts."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.demo import report
from bot.demo.blocks import Names, mrkdwn_html, text_lines
from bot.demo.run import UsedDatabase, run_demo
from bot.demo.stage import Entry
from storage.db import Database
from tests.test_cli import CDP_BOT, clean_env

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """One run of `cdp-bot demo --out DIR`, in an empty working folder, without any Slack variable."""
    work = tmp_path_factory.mktemp("demo")
    started = time.monotonic()
    result = subprocess.run(
        [CDP_BOT, "demo", "--out", "out"],
        cwd=work,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    print(f"cdp-bot demo took {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (work / "cdp-bot.db").exists()  # SQLite in a temporary folder, not the working one
    yield work / "out", result.stdout


def test_the_transcript_shows_what_each_person_saw_in_both_languages(demo: tuple[Path, str]) -> None:
    out, stdout = demo
    assert (out / "transcript.txt").read_text(encoding="utf-8").strip() in stdout
    # The slash commands people typed and the app's answers.
    assert "Noah Fischer ▸ /cdp join Rues partagées" in stdout
    assert "Léa Dubois ▸ /cdp rejoindre Jardins partagés" in stdout
    assert "Noah Fischer ▸ /cdp jion Rues partagées" in stdout
    assert "Did you mean `/cdp join`?" in stdout  # a typo gets a clear answer
    assert (
        "Je ne connais pas de communauté appelée « Jardins partagés ». Vouliez-vous dire *Rues partagées* ?"
        in stdout
    )
    # The welcome, in each newcomer's language.
    assert "Welcome to *Open Data Guild*! You start in the *outer circle*" in stdout
    assert "Bienvenue dans *Rues partagées* ! Vous commencez dans le *cercle externe*" in stdout
    # The promotion note.
    assert "🎉 You are now in the *inner circle* of" in stdout
    assert "🎉 Vous faites maintenant partie du *cercle interne* de" in stdout
    # A review prompt and its decision.
    assert "*Time for the checklist review of Adaptation au climat.*" in stdout
    assert "*C'est le moment de la revue de Rues partagées avec la liste de contrôle.*" in stdout
    assert "envoie la check-list : continuer" in stdout
    assert "*Décision :* Continuer ainsi." in stdout
    # Momentum alerts: the core group gone quiet, the community that stalls.
    assert "*Momentum alert: Open Data Guild*" in stdout
    assert "Nobody in the core group has contributed for" in stdout
    assert "*Alerte : l'élan faiblit dans Adaptation au climat*" in stdout
    assert "Lifecycle: *stalling* since" in stdout
    # A moderator answers the "newcomers waiting" alert with its button.
    assert "Camille Martin ▸ clique sur « Marquer comme accueillis »" in stdout
    assert "Merci ! 1 nouveau membre noté comme accueilli dans *Rues partagées*." in stdout
    # The charts, written beside the page.
    charts = sorted((out / "charts").glob("*.png"))
    assert charts and all(path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for path in charts)


def test_a_short_demo_runs_on_each_database(database_url: str, db: Database, tmp_path: Path) -> None:
    """DATABASE_URL given: the demo uses it (SQLite and PostgreSQL alike); a week is enough to see the
    communities created, people joining and welcomed, and their first contributions counted."""
    lines: list[str] = []
    run_demo(tmp_path / "out", lang="fr", database_url=database_url, days=8, echo=lines.append)
    shown = "\n".join(lines)
    assert (
        "Lecture de 8 jours (du 5 janvier 2026 au 12 janvier 2026) avec 40 personnes dans 3 communautés"
        in shown
    )
    assert "Camille Martin ▸ envoie le formulaire : Rues partagées" in shown
    assert "Léa Dubois ▸ /cdp rejoindre Rues partagées" in shown
    assert "Bienvenue dans *Rues partagées* ! Vous commencez dans le *cercle externe*" in shown
    assert "Thomas Petit ▸ rejoint #cdp-rues-partagees" in shown
    assert "Terminé en" in shown
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert '<section id="people">' in page and "Ce que chaque personne a vu" in page
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM communities")).scalar() == 3
    # Played again into the same database: refused before anything is written.
    with pytest.raises(UsedDatabase, match=r"the demo needs an empty database, and .* holds 3 communities"):
        run_demo(tmp_path / "again", database_url=database_url, days=8, echo=lines.append)
    assert not (tmp_path / "again").exists()


def test_the_page_escapes_what_it_shows() -> None:
    names = Names({"U1": "Zoé <b>"}, {"C1": "general"})
    shown = mrkdwn_html('*Hi* <@U1> in <#C1> <https://example.org/?a=1&b=2|the "doc"> & <img src=x>', names)
    assert "<b>Hi</b>" in shown and "@Zoé &lt;b&gt;" in shown and "#general" in shown
    assert '<a href="https://example.org/?a=1&amp;b=2">the &quot;doc&quot;</a>' in shown
    assert "<img" not in shown and "&amp;" in shown
    assert mrkdwn_html("<javascript:alert(1)|click>", names) == "click"
    form = {
        "title": {"type": "plain_text", "text": "Form"},
        "blocks": [
            {
                "type": "input",
                "label": {"type": "plain_text", "text": "Language"},
                "element": {
                    "type": "static_select",
                    "action_id": "l",
                    "initial_option": {"text": {"type": "plain_text", "text": "Français"}, "value": "fr"},
                },
            },
        ],
    }
    assert text_lines(form, names) == ["[ Form ]", "Language: [Français ▾]"]


def test_the_transcript_speaks_the_chosen_language() -> None:
    dm = {"text": "", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Salut <@UNOAH>"}}]}
    entries = [
        Entry(datetime(2026, 1, 5, 12, 0, tzinfo=UTC), "UNOAH", "typed", typed="/cdp moi"),
        Entry(datetime(2026, 1, 5, 12, 0, tzinfo=UTC), "UNOAH", "dm", payload=dm),
    ]
    names = report.names_of({})
    assert list(report.transcript(entries, names, "fr")) == [
        "",
        "=== 5 janvier 2026 (UTC) ===",
        "12:00  Noah Fischer ▸ /cdp moi",
        "12:00  Noah Fischer ◂ message direct de cdp-bot",
        "         Salut @Noah Fischer",
    ]
    assert "direct message from cdp-bot" in list(report.transcript(entries, names, "en"))[3]


def _browser_or_skip() -> None:
    if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} or {CHROMEDRIVER} is missing in CI: .ci/run installs them (apt-get)")
    pytest.skip("headless Chromium is not installed (apt-get install chromium chromium-driver)")


def test_the_page_loads_in_a_headless_browser_with_its_sections_images_and_no_console_error(
    demo: tuple[Path, str],
) -> None:
    _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    out, _ = demo
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get((out / "index.html").resolve().as_uri())
        assert driver.execute_script("return document.readyState") == "complete"
        assert "cdp-bot demo" in driver.title
        for section in ("communities", "people", "channels", "charts"):
            assert driver.find_element(By.ID, section).find_element(By.TAG_NAME, "h2").text
        people = driver.find_elements(By.CSS_SELECTOR, "article.person")
        assert len(people) == 40
        noah = driver.find_element(By.ID, "person-UNOAH").text
        assert "/cdp join Rues partagées" in noah
        assert "Welcome to Rues partagées! You start in the outer circle" in noah  # mrkdwn rendered
        # Block Kit as Slack shows it: bold text, buttons, a modal with its inputs, a Home tab.
        assert driver.find_elements(By.CSS_SELECTOR, "li.dm .section b")
        assert driver.find_elements(By.CSS_SELECTOR, "li.dm .actions .button")
        assert driver.find_elements(By.CSS_SELECTOR, "li.modal .modal .input label")
        assert driver.find_elements(By.CSS_SELECTOR, "li.home .home")
        images = driver.find_elements(By.TAG_NAME, "img")
        assert images
        widths = [
            driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", i)
            for i in images
        ]
        assert all(width and width > 0 for width in widths), widths
        # The charts' gallery says each chart in words (its alt text, as the messages gave it).
        captions = [f.text for f in driver.find_elements(By.CSS_SELECTOR, "#charts figcaption")]
        assert captions and all(c.startswith(("Chart of ", "Graphique de ")) for c in captions), captions
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []
        screenshot = out / "page.png"
        driver.save_screenshot(str(screenshot))
        assert screenshot.stat().st_size > 0
    finally:
        driver.quit()


def test_chromium_install_is_in_ci() -> None:
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "apt-get install" in ci and "chromium-driver" in ci
