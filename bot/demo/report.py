"""What the demo prints and writes: a readable transcript, the charts, and one self-contained HTML page
that shows the messages, modals and Home tabs roughly as Slack shows them, per person, in time order."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from bot.demo.blocks import Names, blocks_html, text_lines
from bot.demo.cast import COMMUNITIES, COMMUNITY, PEOPLE, Community
from bot.demo.stage import Entry
from bot.i18n import format_day, format_list, t

MESSAGE_KINDS = ("answer", "dm", "ephemeral", "post")
VIEW_KINDS = ("modal", "home")
KINDS = ("typed", *MESSAGE_KINDS, *VIEW_KINDS)  # each is shown as t(f"demo.kind.{kind}")
SECTIONS = ("communities", "people", "channels", "charts")  # each titled t(f"demo.sections.{key}")


@dataclass(frozen=True)
class Figures:
    start: date
    end: date
    days: int
    seconds: float
    events: int


def names_of(channels: Mapping[str, str]) -> Names:
    return Names({p.user_id: p.name for p in PEOPLE}, channels)


def language_name(code: str, lang: str) -> str:
    return {"fr": {"fr": "français", "en": "anglais"}, "en": {"fr": "French", "en": "English"}}[lang][code]


# ---- the transcript ------------------------------------------------------------------------------------
def _who(target: str, names: Names) -> str:
    if target.startswith(("C", "G")):
        return "#" + names.channel(target)
    return names.user(target)


def transcript(entries: Sequence[Entry], names: Names, lang: str) -> Iterable[str]:
    """Each thing someone did or saw, in time order under its day: who, what, and the text they read."""
    day: date | None = None
    for entry in entries:
        if entry.at.date() != day:
            day = entry.at.date()
            yield ""
            yield f"=== {format_day(day, lang)} (UTC) ==="
        who = _who(entry.target, names)
        if entry.kind == "typed":
            yield f"{entry.at:%H:%M}  {who} ▸ {entry.typed}"
            continue
        yield f"{entry.at:%H:%M}  {who} ◂ {t(f'demo.kind.{entry.kind}', lang)}"
        for line in text_lines(entry.payload, names):
            yield f"         {line}"


# ---- the page ------------------------------------------------------------------------------------------
CSS = """
:root { --ink: #1d1c1d; --muted: #616061; --line: #e1e1e1; --link: #1264a3; --aubergine: #4a154b; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.46 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--ink); background: #f8f8f8; }
header.top { background: var(--aubergine); color: #fff; padding: 18px 28px; }
header.top h1 { margin: 0 0 6px; font-size: 22px; }
header.top p { margin: 0; opacity: .9; max-width: 60em; }
nav { padding: 8px 28px; background: #3f0e40; }
nav a { color: #fff; margin-right: 18px; text-decoration: none; font-weight: 600; }
main { padding: 8px 28px 40px; max-width: 1100px; }
h2 { border-bottom: 2px solid var(--line); padding-bottom: 4px; margin-top: 32px; }
table.communities { border-collapse: collapse; width: 100%; background: #fff; }
table.communities td, table.communities th { border: 1px solid var(--line); padding: 6px 10px;
  text-align: left;
  vertical-align: top; }
.people-index { columns: 3; font-size: 14px; }
.people-index a { color: var(--link); text-decoration: none; }
article.person, article.channel { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  margin: 18px 0; padding: 10px 18px; }
article h3 { margin: 6px 0 10px; }
ol.timeline { list-style: none; margin: 0; padding: 0; }
ol.timeline > li { display: grid; grid-template-columns: 150px 1fr; gap: 10px; padding: 8px 0;
  border-top: 1px solid #f0f0f0; }
.when { color: var(--muted); font-size: 13px; }
.did { color: var(--muted); font-style: italic; }
.did code { font-style: normal; }
.kind { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .03em;
  margin-bottom: 3px; }
.message { display: grid; grid-template-columns: 36px 1fr; gap: 8px; }
.avatar { width: 36px; height: 36px; border-radius: 6px; background: var(--aubergine); color: #fff;
  font-weight: 700; display: flex; align-items: center; justify-content: center; font-size: 13px; }
.sender { font-weight: 700; }
.sender .app { font-size: 10px; background: #e8e8e8; color: var(--muted); border-radius: 3px;
  padding: 1px 4px;
  margin-left: 4px; font-weight: 600; }
.ephemeral-note { font-size: 12px; color: var(--muted); }
.section { display: flex; justify-content: space-between; gap: 12px; margin: 4px 0; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 4px 16px; margin-top: 4px; }
.context { font-size: 12px; color: var(--muted); margin: 4px 0; }
.actions { margin: 6px 0; display: flex; flex-wrap: wrap; gap: 8px; }
.button, .select { display: inline-block; border: 1px solid #bbb; border-radius: 4px; padding: 3px 12px;
  font-size: 14px; font-weight: 700; background: #fff; }
.button.primary { background: #007a5a; color: #fff; border-color: #007a5a; }
.button.danger { color: #e01e5a; border-color: #e01e5a; }
.select { font-weight: 400; }
.mention { background: #e8f5fa; color: var(--link); border-radius: 3px; padding: 0 2px; }
code { background: #f6f6f6; border: 1px solid #e8e8e8; border-radius: 3px; padding: 0 3px; color: #e01e5a;
  font-size: 13px; }
a { color: var(--link); }
hr { border: none; border-top: 1px solid var(--line); }
h4 { margin: 6px 0; font-size: 17px; }
figure { margin: 6px 0; }
figure img { max-width: 520px; width: 100%; border: 1px solid var(--line); border-radius: 6px; }
figcaption, .alt { font-size: 12px; color: var(--muted); }
.modal, .home { border: 1px solid #ccc; border-radius: 8px; box-shadow: 0 4px 14px rgba(0,0,0,.12);
  max-width: 540px; background: #fff; }
.home { max-width: 700px; }
.modal .title, .home .title { font-weight: 700; font-size: 18px; padding: 10px 16px;
  border-bottom: 1px solid var(--line); }
.modal .body, .home .body { padding: 8px 16px; }
.modal .footer { border-top: 1px solid var(--line); padding: 8px 16px; text-align: right; }
.modal .footer span { margin-left: 8px; }
.input { margin: 10px 0; }
.input label { font-weight: 700; display: block; margin-bottom: 4px; }
.field { border: 1px solid #bbb; border-radius: 4px; padding: 6px 8px; min-height: 34px; }
.field.tall { min-height: 70px; }
.field.placeholder { color: #999; }
.hint { font-size: 12px; color: var(--muted); }
ul.choices { list-style: none; margin: 0; padding: 0; }
.charts-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 16px; }
.charts-grid figure { background: #fff; padding: 8px; border: 1px solid var(--line); border-radius: 6px; }
"""


class Page:
    def __init__(self, names: Names, charts: Mapping[str, str], lang: str) -> None:
        self.names = names
        self.charts = charts  # file id -> the PNG's path relative to the page
        self.lang = lang

    def image_src(self, block: Mapping[str, Any]) -> str | None:
        slack_file = block.get("slack_file")
        if isinstance(slack_file, Mapping):
            return self.charts.get(str(slack_file.get("id") or ""))
        return None  # an external image_url: the page loads nothing from outside

    def entry(self, entry: Entry) -> str:
        day = html.escape(format_day(entry.at.date(), self.lang))
        when = f'<div class="when">{day}<br>{entry.at:%H:%M} UTC</div>'
        if entry.kind == "typed":
            return (
                f'<li class="typed">{when}<div class="did"><code>{html.escape(entry.typed)}</code></div></li>'
            )
        kind = f'<div class="kind">{html.escape(t(f"demo.kind.{entry.kind}", self.lang))}</div>'
        body = blocks_html(entry.payload, self.names, self.image_src)
        if entry.kind in VIEW_KINDS:
            title = html.escape(str((entry.payload.get("title") or {}).get("text") or "cdp-bot"))
            footer = ""
            if entry.kind == "modal":
                submit = (entry.payload.get("submit") or {}).get("text")
                close = (entry.payload.get("close") or {}).get("text") or t("demo.close", self.lang)
                buttons = f'<span class="button">{html.escape(str(close))}</span>'
                if submit:
                    buttons += f'<span class="button primary">{html.escape(str(submit))}</span>'
                footer = f'<div class="footer">{buttons}</div>'
            card = (
                f'<div class="{entry.kind}"><div class="title">{title}</div>'
                f'<div class="body">{body}</div>{footer}</div>'
            )
        else:
            note = ""
            if entry.kind in ("ephemeral", "answer"):
                note = (
                    f'<div class="ephemeral-note">👁 {html.escape(t("demo.kind.ephemeral", self.lang))}</div>'
                )
            card = (
                '<div class="message"><div class="avatar">CdP</div><div>'
                f'<div class="sender">cdp-bot<span class="app">APP</span></div>{body}{note}</div></div>'
            )
        return f'<li class="{entry.kind}">{when}<div>{kind}{card}</div></li>'

    def timeline(self, entries: Sequence[Entry]) -> str:
        if not entries:
            return f"<p>{html.escape(t('demo.nothing', self.lang))}</p>"
        return '<ol class="timeline">' + "\n".join(self.entry(e) for e in entries) + "</ol>"


def page(
    entries: Sequence[Entry],
    names: Names,
    charts: Mapping[str, str],
    figures: Figures,
    members: Mapping[str, int],
    lang: str,
) -> str:
    """The whole page, self-contained: inline CSS, no script, images from the charts folder beside it."""
    view = Page(names, charts, lang)
    esc = html.escape
    sections = {
        key: t(f"demo.sections.{key}", lang) for key in ("communities", "people", "channels", "charts")
    }
    intro = t(
        "demo.intro",
        lang,
        start=format_day(figures.start, lang),
        end=format_day(figures.end, lang),
        people=len(PEOPLE),
        communities=len(COMMUNITIES),
    )
    rows = "".join(
        f"<tr><td>{esc(line)}</td></tr>" for line in (community_line(c, members, lang) for c in COMMUNITIES)
    )
    index = "".join(f'<li><a href="#person-{esc(p.user_id)}">{esc(p.name)}</a></li>' for p in PEOPLE)
    people = []
    for person in PEOPLE:
        mine = [e for e in entries if e.target == person.user_id]
        heading = t(
            "demo.person_line",
            lang,
            name=person.name,
            language=language_name(person.lang, lang),
            community=COMMUNITY[person.community].name,
        )
        people.append(
            f'<article class="person" id="person-{esc(person.user_id)}"><h3>{esc(heading)}</h3>'
            f"{view.timeline(mine)}</article>"
        )
    channels = []
    for community in COMMUNITIES:
        posts = [e for e in entries if e.target == community.channel_id]
        channels.append(
            f'<article class="channel" id="channel-{esc(community.channel_id)}">'
            f"<h3>#{esc(community.channel_name)}</h3>{view.timeline(posts)}</article>"
        )
    alts = _chart_alts(entries)
    gallery = "".join(
        f'<figure><img src="{esc(path)}" alt="{esc(alts.get(file_id, file_id))}">'
        f"<figcaption>{esc(alts.get(file_id, path))}</figcaption></figure>"
        for file_id, path in charts.items()
    )
    return f"""<!DOCTYPE html>
<html lang="{esc(lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(t("demo.title", lang))}</title>
<link rel="icon" href="data:,">
<style>{CSS}</style>
</head>
<body>
<header class="top"><h1>{esc(t("demo.title", lang))}</h1><p>{esc(intro)}</p></header>
<nav>{"".join(f'<a href="#{key}">{esc(label)}</a>' for key, label in sections.items())}</nav>
<main>
<section id="communities"><h2>{esc(sections["communities"])}</h2>
<table class="communities">{rows}</table></section>
<section id="people"><h2>{esc(sections["people"])}</h2><ul class="people-index">{index}</ul>
{"".join(people)}</section>
<section id="channels"><h2>{esc(sections["channels"])}</h2>{"".join(channels)}</section>
<section id="charts"><h2>{esc(sections["charts"])}</h2><div class="charts-grid">{gallery}</div></section>
</main>
</body>
</html>
"""


def _chart_alts(entries: Sequence[Entry]) -> dict[str, str]:
    """Each uploaded chart's alt text, as the messages showing it give it (the chart in words)."""
    alts: dict[str, str] = {}
    for entry in entries:
        for block in entry.payload.get("blocks") or []:
            slack_file = block.get("slack_file") if isinstance(block, Mapping) else None
            if isinstance(slack_file, Mapping) and slack_file.get("id"):
                alts.setdefault(str(slack_file["id"]), str(block.get("alt_text") or ""))
    return alts


def community_line(community: Community, members: Mapping[str, int], lang: str) -> str:
    names = names_of({})
    return t(
        "demo.community_line",
        lang,
        name=community.name,
        language=language_name(community.language, lang),
        timezone=community.timezone,
        moderators=format_list([names.user(m) for m in community.moderators], lang),
        members=members.get(community.key, 0),
        weeks=community.cadence_weeks,
    )


def write(
    out: Path, entries: Sequence[Entry], files: Mapping[str, bytes], figures: Figures, lang: str
) -> tuple[Path, Path]:
    """The transcript, the charts and the page, into `out`; returns (transcript, page)."""
    out.mkdir(parents=True, exist_ok=True)
    chart_dir = out / "charts"
    chart_dir.mkdir(exist_ok=True)
    charts: dict[str, str] = {}
    for file_id, content in files.items():
        (chart_dir / f"{file_id}.png").write_bytes(content)
        charts[file_id] = f"charts/{file_id}.png"
    names = names_of({c.channel_id: c.channel_name for c in COMMUNITIES})
    members = {c.key: sum(1 for p in PEOPLE if p.community == c.key) for c in COMMUNITIES}
    transcript_path = out / "transcript.txt"
    transcript_path.write_text("\n".join(transcript(entries, names, lang)) + "\n", encoding="utf-8")
    page_path = out / "index.html"
    page_path.write_text(page(entries, names, charts, figures, members, lang), encoding="utf-8")
    return transcript_path, page_path
