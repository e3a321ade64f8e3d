"""The community chart end to end (issue 11, item 1): drawn and uploaded by the outbox worker, shown in
the review prompt, the outcome post and the moderators' App Home; in words when it cannot be shown."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import charts
from bot.reminders import tick
from bot.services import onramp, outbox
from tests.conftest import ALICE, BRUNO, Harness
from tests.test_e2e_communities import create_community
from tests.test_e2e_home import community_id, homes, open_home
from tests.test_e2e_reviews import (
    ALL_YES,
    CHANNEL,
    FIRST_DUE,
    due_prompt,
    make_community,
    open_checklist,
    prompts_to,
    review_id_in,
    run,
)

JSON = dict[str, Any]


def images(blocks: list[JSON] | None) -> list[JSON]:
    return [b for b in blocks or [] if b.get("type") == "image"]


def uploads(harness: Harness) -> int:
    return len(harness.emulator.successful_calls_to("files.completeUploadExternal"))


def the_png(harness: Harness, image: JSON) -> Image.Image:
    """The picture an image block shows, as Slack holds it: decoded, so it must be a real PNG."""
    content = harness.emulator.uploaded_bytes(image["slack_file"]["id"])
    assert 0 < len(content) <= charts.PNG_MAX_BYTES
    picture = Image.open(io.BytesIO(content))
    picture.load()
    return picture


def republished(harness: Harness, user: str) -> JSON:
    """The Home published again (as any change that concerns them does), as Slack holds it then."""
    with harness.db.session() as session:
        outbox.home(session, team_id=harness.emulator.team_id, user=user)
    harness.drain()
    return homes(harness, user)[-1]


def test_a_review_prompt_shows_the_uploaded_chart_with_its_alt_text_in_each_language(
    harness: Harness,
) -> None:
    due_prompt(harness)  # Alice reads English, Bruno French
    [alice] = prompts_to(harness, ALICE)
    [bruno] = prompts_to(harness, BRUNO)
    [english], [french] = images(alice["blocks"]), images(bruno["blocks"])
    for image in (english, french):
        picture = the_png(harness, image)
        assert picture.format == "PNG" and picture.size == (charts.WIDTH_PX, charts.HEIGHT_PX)
    assert english["alt_text"].startswith("Chart of Urbanism. Members per circle over 3 weeks since")
    assert "now 2 in the core group" in english["alt_text"]
    assert french["alt_text"].startswith("Graphique de Urbanism. Membres par cercle sur 3 semaines depuis")
    # Uploaded to no channel (the app's own file), once per language: not once per moderator.
    completed = harness.emulator.successful_calls_to("files.completeUploadExternal")
    assert len(completed) == 2 and all(not call.get("channel_id") for call in completed)


def test_every_moderator_of_one_language_gets_the_same_file(harness: Harness) -> None:
    harness.emulator.users[BRUNO]["locale"] = "en-US"
    due_prompt(harness)
    [alice], [bruno] = prompts_to(harness, ALICE), prompts_to(harness, BRUNO)
    assert images(alice["blocks"])[0]["slack_file"] == images(bruno["blocks"])[0]["slack_file"]
    assert uploads(harness) == 1


def test_a_failing_upload_still_sends_the_prompt_with_the_chart_in_words(harness: Harness) -> None:
    harness.emulator.fail("files.completeUploadExternal", "internal_error", times=10)
    due_prompt(harness)
    [alice], [bruno] = prompts_to(harness, ALICE), prompts_to(harness, BRUNO)
    assert images(alice["blocks"]) == [] and images(bruno["blocks"]) == []
    assert "(The chart could not be shown.) Chart of Urbanism. Members per circle" in str(alice["blocks"])
    assert "(Le graphique n'a pas pu être affiché.) Graphique de Urbanism." in str(bruno["blocks"])
    assert review_id_in(alice)  # the buttons are there: the review can go on


def test_slack_refusing_a_fresh_image_sends_the_prompt_in_words(harness: Harness) -> None:
    """Slack finishes an upload asynchronously: a message posted at once may be refused for its image."""
    harness.emulator.fail("chat.postMessage", "invalid_blocks")
    make_community(harness, moderators=(ALICE,))
    harness.clock.set(FIRST_DUE)
    run(harness)
    [alice] = prompts_to(harness, ALICE)
    assert images(alice["blocks"]) == []
    assert "(The chart could not be shown.) Chart of Urbanism." in str(alice["blocks"])


def test_the_tick_neither_draws_nor_uploads(harness: Harness) -> None:
    make_community(harness)
    harness.clock.set(FIRST_DUE)
    tick(harness.runtime.deps, harness.jobs_client)  # the outbox has not sent yet
    assert harness.emulator.calls_to("files.getUploadURLExternal") == []
    harness.drain()
    assert uploads(harness) == 2


def test_the_outcome_post_in_the_channel_shows_the_chart(harness: Harness) -> None:
    _, review_id = due_prompt(harness)
    view = open_checklist(harness, ALICE, review_id)
    harness.slack.view_submission(view, ALICE, {**ALL_YES, "decision": "continue"})
    harness.drain()
    outcome = harness.emulator.messages_to(CHANNEL)[-1]
    assert outcome["text"] == "Checklist review of Urbanism: Continue as we are."  # the story (item 6)
    [image] = images(outcome["blocks"])
    assert the_png(harness, image).size == (charts.WIDTH_PX, charts.HEIGHT_PX)
    assert image["alt_text"].startswith("Chart of Urbanism.")  # the community's language
    assert uploads(harness) == 2  # the prompt's English chart of the day is shown again


def test_the_moderators_home_shows_the_chart_uploaded_once_a_day(harness: Harness) -> None:
    create_community(harness, ALICE, "Urbanism")  # just created: no history yet
    home = open_home(harness, ALICE)
    assert home is not None
    [image] = images(home["blocks"])
    assert the_png(harness, image).size == (charts.WIDTH_PX, charts.HEIGHT_PX)
    assert image["alt_text"] == "Chart of Urbanism: no history yet; the chart fills in week by week."
    again = republished(harness, ALICE)
    assert images(again["blocks"]) == [image]
    assert uploads(harness) == 1  # the same day: the same file
    harness.clock.advance(timedelta(days=1))
    tomorrow = republished(harness, ALICE)
    assert uploads(harness) == 2
    assert images(tomorrow["blocks"])[0]["slack_file"] != image["slack_file"]


def test_a_members_home_has_no_chart(harness: Harness) -> None:
    create_community(harness, ALICE, "Urbanism")
    harness.slack.command("join Urbanism", BRUNO)
    harness.drain()
    home = open_home(harness, BRUNO)
    assert home is not None and images(home["blocks"]) == []


def test_the_chart_data_of_a_young_community(harness: Harness) -> None:
    create_community(harness, ALICE, "Urbanism")
    urbanism = community_id(harness, "Urbanism")
    harness.clock.advance(timedelta(days=15))
    with harness.db.session() as session:
        data = onramp.chart_data_many(session, community_ids=[urbanism, 999_999], now=harness.clock.now())
    assert list(data) == [urbanism]
    chart = data[urbanism]
    assert chart.name == "Urbanism" and len(chart.weeks) in (3, 4)
    assert all((w.core, w.inner, w.outer) == (1, 0, 0) for w in chart.weeks)
    assert (
        chart.contributions == (0,) * len(chart.weeks) and chart.usual_week is None
    )  # never a contribution: no usual week yet
    assert chart.funnel == (0, 0, 0)


def test_the_emulator_shows_a_slack_file_image_only_once_uploaded(harness: Harness) -> None:
    client = WebClient(token=harness.emulator.token, base_url=harness.emulator.api_url)

    def image(slack_file: JSON, alt: str = "A chart") -> list[JSON]:
        return [{"type": "image", "slack_file": slack_file, "alt_text": alt}]

    def refused(blocks: list[JSON]) -> str:
        with pytest.raises(SlackApiError) as error:
            client.chat_postMessage(channel=ALICE, text="chart", blocks=blocks)
        return str(error.value.response["error"])

    assert refused(image({"id": "F0000ABCD"})) == "invalid_blocks"  # never uploaded
    uploaded = client.files_upload_v2(content=b"\x89PNG...", filename="chart.png")
    file_id = uploaded["files"][0]["id"] if uploaded.get("files") else uploaded["file"]["id"]
    assert refused(image({"id": file_id, "url": "https://files.slack.com/x.png"})) == "invalid_blocks"
    assert refused(image({"id": file_id}, alt="")) == "invalid_blocks"  # alt text is required
    assert client.chat_postMessage(channel=ALICE, text="chart", blocks=image({"id": file_id}))["ok"]
