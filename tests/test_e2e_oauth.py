"""Several workspaces (OAuth v2) end to end: the real app over HTTP, installed through the emulator's
OAuth in two workspaces (and an Enterprise Grid org), each answered and written to with its own token."""

from __future__ import annotations

import html
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select, update

from bot import backfill
from bot.clock import ManualClock
from bot.i18n import t
from bot.reminders import tick
from bot.scheduler import purge_uninstalled
from bot.server import Runtime
from bot.services import communities as svc
from bot.services.communities import ChannelChoice
from bot.settings import Settings
from bot.testing.slack_emulator import HttpResult, SignedSender, SlackEmulator
from bot.workspaces import BOT_SCOPES
from storage.models import ActivityDay, Base, Community, Membership, Review
from tests.conftest import ALICE, BRUNO, SIGNING_SECRET, DrainingSender, app_settings, community_draft, served

CLIENT_ID = "1234.5678"
CLIENT_SECRET = "oauth-client-secret"
TEAM_A = "T0CDP"  # the emulator's default workspace
TEAM_B = "T0BBB"
BEA, BASTIEN = "UBEA", "UBASTIEN"  # people of workspace B (English, French)
ORG, TEAM_G1, TEAM_G2 = "E0ORG", "T0GA1", "T0GA2"  # an Enterprise Grid org and two of its workspaces
GIA = "UGIA"
FIRST_DUE = datetime(2026, 3, 16, 8, 0, tzinfo=UTC)  # a fortnight after the clock's start, 09:00 Paris


class TeamSender(DrainingSender):
    """Signed requests from one workspace (its team id, and its Grid org's fields when in one)."""

    def __init__(self, url: str, emulator: SlackEmulator, runtime: Runtime, team_id: str) -> None:
        super().__init__(url, SIGNING_SECRET, emulator, runtime)
        self._team_id = team_id


@dataclass
class OAuthHarness:
    emulator: SlackEmulator
    runtime: Runtime
    url: str
    clock: ManualClock

    def sender(self, team_id: str) -> TeamSender:
        return TeamSender(self.url, self.emulator, self.runtime, team_id)

    def drain(self) -> None:
        self.runtime.deps.background.drain(30)
        assert self.runtime.deps.outbox is not None
        self.runtime.deps.outbox.drain(30)

    def count(self, table: str, **where: Any) -> int:
        t = Base.metadata.tables[table]
        query = select(func.count()).select_from(t)
        for column, value in where.items():
            query = query.where(t.c[column] == value)
        with self.runtime.deps.db.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())


@pytest.fixture
def two_workspaces(emulator: SlackEmulator) -> SlackEmulator:
    emulator.add_workspace(TEAM_B, "beta")
    emulator.add_user(BEA, "bea", locale="en-US", tz="Europe/London", team_id=TEAM_B)
    emulator.add_user(BASTIEN, "bastien", locale="fr-FR", tz="Europe/Paris", team_id=TEAM_B)
    emulator.add_channel("CBETA", "beta-general", members=[BEA, BASTIEN], team_id=TEAM_B)
    emulator.add_workspace(TEAM_G1, "grid-one", enterprise_id=ORG)
    emulator.add_workspace(TEAM_G2, "grid-two", enterprise_id=ORG)
    emulator.add_user(GIA, "gia", locale="en-US", tz="Europe/Paris", team_id=TEAM_G2)
    return emulator


def oauth_settings(emulator: SlackEmulator, database_url: str, **overrides: object) -> Settings:
    settings = app_settings(
        emulator,
        database_url,
        SLACK_BOT_TOKEN=None,
        SLACK_CLIENT_ID=CLIENT_ID,
        SLACK_CLIENT_SECRET=CLIENT_SECRET,
        **overrides,
    )
    assert settings.oauth
    return settings


@pytest.fixture
def oauth(two_workspaces: SlackEmulator, database_url: str, clock: ManualClock) -> Iterator[OAuthHarness]:
    two_workspaces.oauth_app(CLIENT_ID, CLIENT_SECRET, scopes=BOT_SCOPES)
    with served(oauth_settings(two_workspaces, database_url), clock) as (runtime, url):
        yield OAuthHarness(two_workspaces, runtime, url, clock)


def get(url: str, headers: dict[str, str] | None = None) -> HttpResult:
    request = urllib.request.Request(url, headers=headers or {}, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return HttpResult(response.status, response.read().decode("utf-8"), dict(response.headers))
    except urllib.error.HTTPError as error:
        return HttpResult(error.code, error.read().decode("utf-8"), dict(error.headers))


def install_page(h: OAuthHarness, lang: str = "en") -> tuple[HttpResult, str, str]:
    """GET /slack/install: the page, the state in its "Add to Slack" link, and the browser's cookie."""
    page = get(f"{h.url}/slack/install", {"Accept-Language": lang})
    found = re.search(r"state=([0-9a-f-]+)", page.text)
    assert found is not None, page.text
    cookie = page.headers["set-cookie"].split(";", 1)[0]
    return page, found.group(1), cookie


def install(h: OAuthHarness, team_id: str, *, org_wide: bool = False, lang: str = "en") -> HttpResult:
    """An admin installs the app: the install page, approval in Slack, back to the redirect URL."""
    _, state, cookie = install_page(h, lang)
    code = h.emulator.authorize(team_id, org_wide=org_wide)
    return get(
        f"{h.url}/slack/oauth_redirect?code={code}&state={state}", {"Cookie": cookie, "Accept-Language": lang}
    )


def make_community(h: OAuthHarness, team_id: str, channel: str, moderators: tuple[str, ...]) -> int:
    draft = community_draft(
        "Urbanism", domain="Safer streets", moderators=moderators, timezone="Europe/Paris", cadence_weeks=2
    )
    with h.runtime.deps.db.session() as session:
        community = svc.create(
            session,
            team_id=team_id,
            creator=moderators[0],
            draft=draft,
            channel=ChannelChoice(channel, "urbanism", False),
            now=h.clock.now(),
        )
        return community.id


def test_the_install_asks_for_the_manifests_bot_scopes() -> None:
    manifest = yaml.safe_load((Path(__file__).resolve().parent.parent / "manifest.yml").read_text("utf-8"))
    assert list(BOT_SCOPES) == manifest["oauth_config"]["scopes"]["bot"]


def test_install_in_two_workspaces_each_answered_with_its_own_token(oauth: OAuthHarness) -> None:
    page, _, _ = install_page(oauth)
    assert page.status == 200 and "Add to Slack" in page.text
    assert "client_id=1234.5678" in page.text and "chat%3Awrite" in page.text.replace(":", "%3A")
    french = get(f"{oauth.url}/slack/install", {"Accept-Language": "fr-FR,fr;q=0.9"})
    assert "Ajouter à Slack" in french.text

    done_a, done_b = install(oauth, TEAM_A), install(oauth, TEAM_B, lang="fr")
    assert done_a.status == 200 and "cdp-bot is now installed in cdp-test" in done_a.text
    assert done_b.status == 200 and "cdp-bot est maintenant installé dans beta" in done_b.text
    assert oauth.count("slack_installations") == 2
    assert oauth.count("slack_bots", team_id=TEAM_B) == 1

    token_a, token_b = oauth.emulator.workspace(TEAM_A).token, oauth.emulator.workspace(TEAM_B).token
    oauth.emulator.reset_calls()
    sent_a = oauth.sender(TEAM_A).command("create", ALICE)
    sent_b = oauth.sender(TEAM_B).command("create", BASTIEN, channel="CBETA")
    assert sent_a.status == 200 and sent_b.status == 200
    opened = oauth.emulator.calls_to("views.open")
    assert len(opened) == 2
    views_open = [c for c in oauth.emulator.calls if c.method == "views.open"]
    assert {c.token for c in views_open} == {token_a, token_b}
    # Each workspace's person was asked about (their language) with their own workspace's token only.
    assert [c.params["user"] for c in oauth.emulator.calls_by(TEAM_B, "users.info")] == [BASTIEN]
    assert [c.params["user"] for c in oauth.emulator.calls_by(TEAM_A, "users.info")] == [ALICE]
    # Bastien's form is in French, Alice's in English: each from their own workspace's profile.
    titles = sorted(str(c["view"]["title"]["text"]) for c in opened)
    assert len(set(titles)) == 2

    help_b = oauth.sender(TEAM_B).command("help", BEA, channel="CBETA")
    assert help_b.status == 200 and "/cdp" in help_b.text
    assert all(c.token in (token_a, token_b) for c in oauth.emulator.calls)


def a_community_in_each(oauth: OAuthHarness) -> None:
    """Both workspaces install the app; each has an Urbanism community with its two moderators."""
    install(oauth, TEAM_A)
    install(oauth, TEAM_B)
    oauth.emulator.add_channel("CURB", "urbanism", members=[ALICE, BRUNO])
    oauth.emulator.add_channel("CBURB", "urbanism", members=[BEA, BASTIEN], team_id=TEAM_B)
    make_community(oauth, TEAM_A, "CURB", (ALICE, BRUNO))
    make_community(oauth, TEAM_B, "CBURB", (BEA, BASTIEN))
    oauth.drain()


def test_a_scheduled_review_goes_out_with_its_workspaces_token(oauth: OAuthHarness) -> None:
    a_community_in_each(oauth)
    oauth.emulator.reset_calls()

    oauth.clock.set(FIRST_DUE + timedelta(minutes=1))
    tick(oauth.runtime.deps, oauth.runtime.deps.jobs_client)
    oauth.drain()

    posted_b = {str(c.params["channel"]) for c in oauth.emulator.calls_by(TEAM_B, "chat.postMessage")}
    posted_a = {str(c.params["channel"]) for c in oauth.emulator.calls_by(TEAM_A, "chat.postMessage")}
    assert posted_b == {BEA, BASTIEN}
    assert posted_a == {ALICE, BRUNO}
    assert len(oauth.emulator.messages_to(BEA)) == 1 and len(oauth.emulator.messages_to(ALICE)) == 1
    with oauth.runtime.deps.db.session() as session:
        assert all(r.sent_at is not None for r in session.scalars(select(Review)))


def test_a_backfill_reads_history_with_its_workspaces_token(oauth: OAuthHarness) -> None:
    install(oauth, TEAM_A)
    install(oauth, TEAM_B)
    bound = oauth.clock.now().timestamp()
    oauth.emulator.add_channel("CBURB", "urbanism", members=[BEA, BASTIEN], team_id=TEAM_B)
    for offset in (86400.0, 86340.0):
        oauth.emulator.add_message("CBURB", BASTIEN, f"{bound - offset:.6f}", text="history")
    bot_b = oauth.emulator.workspace(TEAM_B).bot_user_id  # the app's own message is not a contribution
    oauth.emulator.add_message("CBURB", bot_b, f"{bound - 7200:.6f}", text="me", bot_id="BBOTBBB")
    make_community(oauth, TEAM_B, "CBURB", (BEA, BASTIEN))
    oauth.emulator.reset_calls()

    backfill.resume_all(oauth.runtime.deps)
    oauth.drain()

    assert len(oauth.emulator.calls_by(TEAM_B, "conversations.history")) == 1
    assert [c.method for c in oauth.emulator.calls if c.team_id is None] == []
    with oauth.runtime.deps.db.session() as session:
        counted = session.execute(
            select(ActivityDay.user_id, func.sum(ActivityDay.contributions)).group_by(ActivityDay.user_id)
        ).all()
    assert [(user, int(total)) for user, total in counted] == [(BASTIEN, 2)]


def test_an_expiring_token_is_refreshed_before_it_is_used(
    two_workspaces: SlackEmulator, database_url: str, clock: ManualClock
) -> None:
    app = two_workspaces.oauth_app(
        CLIENT_ID, CLIENT_SECRET, scopes=BOT_SCOPES, rotation=True, token_lifetime=60
    )
    with served(oauth_settings(two_workspaces, database_url), clock) as (runtime, url):
        h = OAuthHarness(two_workspaces, runtime, url, clock)
        assert install(h, TEAM_B).status == 200
        first = two_workspaces.token_owner.copy()
        installed_token = next(
            token for token, team in first.items() if team == TEAM_B and token.startswith("xoxe.")
        )
        app.token_lifetime = 43200  # the refreshed one lasts
        two_workspaces.reset_calls()

        assert h.sender(TEAM_B).command("create", BEA, channel="CBETA").status == 200

        assert [g["grant_type"] for g in app.grants] == ["authorization_code", "refresh_token"]
        opened = [c for c in two_workspaces.calls if c.method == "views.open"]
        assert len(opened) == 1 and opened[0].response is not None and opened[0].response["ok"]
        assert opened[0].token != installed_token and opened[0].team_id == TEAM_B
        assert two_workspaces.dead_tokens[installed_token] == "token_expired"
        # The new token and its expiry are stored: the next request needs no refresh.
        assert h.sender(TEAM_B).command("help", BEA, channel="CBETA").status == 200
        assert len(app.grants) == 2


def test_uninstall_deletes_the_installation_then_after_the_grace_period_the_data(oauth: OAuthHarness) -> None:
    a_community_in_each(oauth)

    answer = oauth.sender(TEAM_B).event({"type": "app_uninstalled", "event_ts": "1.0"})
    assert answer.status == 200
    assert oauth.count("slack_installations", team_id=TEAM_B) == 0
    assert oauth.count("slack_bots", team_id=TEAM_B) == 0
    assert oauth.count("slack_installations", team_id=TEAM_A) == 1

    # Workspace B's people are told it is not installed; A goes on.
    refused = oauth.sender(TEAM_B).command("help", BEA, channel="CBETA")
    assert refused.status == 200
    assert "not installed" in str(oauth.emulator.responses[-1][1])
    assert "/cdp" in oauth.sender(TEAM_A).command("help", ALICE).text

    # Within the grace period nothing of B's is deleted; after it, all of B's and nothing of A's.
    oauth.clock.advance(timedelta(days=29))
    assert purge_uninstalled(oauth.runtime.deps) == 0
    assert oauth.count("communities", team_id=TEAM_B) == 1
    oauth.clock.advance(timedelta(days=2))
    assert purge_uninstalled(oauth.runtime.deps) > 0
    for table in ("communities", "memberships", "community_channels", "reviews", "outbox"):
        assert oauth.count(table, team_id=TEAM_B) == 0, table
    assert oauth.count("communities", team_id=TEAM_A) == 1
    assert oauth.count("memberships", team_id=TEAM_A) == 2


def test_a_reinstall_within_the_grace_period_keeps_the_data(oauth: OAuthHarness) -> None:
    install(oauth, TEAM_B)
    oauth.emulator.add_channel("CBURB", "urbanism", members=[BEA, BASTIEN], team_id=TEAM_B)
    make_community(oauth, TEAM_B, "CBURB", (BEA, BASTIEN))
    oauth.sender(TEAM_B).event({"type": "tokens_revoked", "tokens": {"bot": ["UBOTBBB"]}, "event_ts": "1.0"})
    assert oauth.count("slack_bots", team_id=TEAM_B) == 0
    oauth.clock.advance(timedelta(days=3))
    assert install(oauth, TEAM_B).status == 200
    oauth.clock.advance(timedelta(days=60))
    assert purge_uninstalled(oauth.runtime.deps) == 0
    assert oauth.count("communities", team_id=TEAM_B) == 1
    with oauth.runtime.deps.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Membership)) == 2


def test_an_org_wide_grid_install_answers_and_sends_for_each_workspace_of_the_org(
    oauth: OAuthHarness,
) -> None:
    done = install(oauth, TEAM_G1, org_wide=True)
    assert done.status == 200 and "installed" in done.text
    assert oauth.count("slack_installations", enterprise_id=ORG, is_enterprise_install=True) == 1
    oauth.emulator.add_channel("CGRID", "grid", members=[GIA], team_id=TEAM_G2)

    assert oauth.sender(TEAM_G2).command("create", GIA, channel="CGRID").status == 200
    assert [c.params["user"] for c in oauth.emulator.calls_by(ORG, "users.info")] == [GIA]
    assert len(oauth.emulator.calls_by(ORG, "views.open")) == 1

    make_community(oauth, TEAM_G2, "CGRID", (GIA,))  # rows keyed by the workspace, not the org
    oauth.clock.set(FIRST_DUE + timedelta(minutes=1))
    tick(oauth.runtime.deps, oauth.runtime.deps.jobs_client)
    oauth.drain()
    assert {str(c.params["channel"]) for c in oauth.emulator.calls_by(ORG, "chat.postMessage")} == {GIA}
    with oauth.runtime.deps.db.session() as session:
        assert session.scalars(select(Community.team_id)).all() == [TEAM_G2]


def test_an_org_wide_uninstall_schedules_every_workspace_of_the_org(oauth: OAuthHarness) -> None:
    install(oauth, TEAM_G1, org_wide=True)
    install(oauth, TEAM_B)
    oauth.emulator.add_channel("CGRID", "grid", members=[GIA], team_id=TEAM_G2)
    assert oauth.sender(TEAM_G2).command("help", GIA, channel="CGRID").status == 200  # G2 seen once
    make_community(oauth, TEAM_G2, "CGRID", (GIA,))

    assert oauth.sender(TEAM_G2).event({"type": "app_uninstalled", "event_ts": "1.0"}).status == 200
    assert oauth.count("slack_installations", enterprise_id=ORG) == 0
    assert oauth.count("slack_bots", enterprise_id=ORG) == 0
    assert oauth.count("slack_installations", team_id=TEAM_B) == 1
    oauth.clock.advance(timedelta(days=31))
    assert purge_uninstalled(oauth.runtime.deps) > 0
    assert oauth.count("communities", team_id=TEAM_G2) == 0


# ---- bad input: a clear page, nothing stored -------------------------------------------------------
def test_a_cancelled_install_says_so_and_stores_nothing(oauth: OAuthHarness) -> None:
    _, state, cookie = install_page(oauth)
    page = get(f"{oauth.url}/slack/oauth_redirect?error=access_denied&state={state}", {"Cookie": cookie})
    assert page.status == 200 and "cancelled in Slack: nothing was installed" in page.text
    assert 'href="/slack/install"' in page.text
    assert oauth.count("slack_installations") == 0


def test_a_missing_reused_or_expired_state_is_refused(oauth: OAuthHarness) -> None:
    code = oauth.emulator.authorize(TEAM_A)
    missing = get(f"{oauth.url}/slack/oauth_redirect?code={code}")
    assert missing.status == 400 and "Nothing was installed" in missing.text
    assert oauth.count("slack_installations") == 0

    _, state, cookie = install_page(oauth)
    assert (
        get(f"{oauth.url}/slack/oauth_redirect?code={code}&state={state}", {"Cookie": cookie}).status == 200
    )
    again = get(
        f"{oauth.url}/slack/oauth_redirect?code={oauth.emulator.authorize(TEAM_B)}&state={state}",
        {"Cookie": cookie, "Accept-Language": "fr"},
    )
    assert again.status == 401 and "expiré ou a déjà servi : rien n'a été installé" in html.unescape(
        again.text
    )
    assert oauth.count("slack_installations") == 1

    _, state, cookie = install_page(oauth)
    with oauth.runtime.deps.db.engine.begin() as connection:
        states = Base.metadata.tables["slack_oauth_states"]
        connection.execute(update(states).values(expire_at=datetime(2020, 1, 1)))
    late = get(
        f"{oauth.url}/slack/oauth_redirect?code={oauth.emulator.authorize(TEAM_B)}&state={state}",
        {"Cookie": cookie},
    )
    assert late.status == 401 and "expired or was already used" in late.text
    assert oauth.count("slack_installations", team_id=TEAM_B) == 0


def test_slack_refusing_the_code_stores_nothing(oauth: OAuthHarness) -> None:
    oauth.emulator.fail("oauth.v2.access", "invalid_code")
    page = install(oauth, TEAM_A)
    assert page.status == 401 and "Slack did not confirm the installation" in page.text
    assert oauth.count("slack_installations") == 0 and oauth.count("workspaces") == 0


def test_requests_from_a_workspace_that_never_installed_are_not_errors(oauth: OAuthHarness) -> None:
    install(oauth, TEAM_A)
    stranger = oauth.sender(TEAM_B)
    event = stranger.event(
        {"type": "member_joined_channel", "user": BEA, "channel": "CBETA", "event_ts": "1.0"}
    )
    assert event.status in (200, 401) and event.status != 500
    command = stranger.command("help", BEA, channel="CBETA")
    assert command.status == 200
    assert "not installed" in str(oauth.emulator.responses[-1][1])
    assert oauth.emulator.calls_by(TEAM_B) == []


def test_a_malformed_command_is_refused_in_the_language_of_its_workspaces_person(oauth: OAuthHarness) -> None:
    install(oauth, TEAM_B)
    sender = oauth.sender(TEAM_B)
    fields = sender.command_fields("create", BASTIEN, channel="CBETA")
    del fields["trigger_id"]  # unreadable: the payload gate answers before Bolt's authorize
    answer = sender.post_form(fields)
    assert answer.status == 200
    assert answer.json()["response_type"] == "ephemeral"
    assert [c.params["user"] for c in oauth.emulator.calls_by(TEAM_B, "users.info")] == [BASTIEN]
    assert t("errors.unreadable", "fr") in answer.json()["text"]
    assert oauth.count("communities") == 0


def test_settings_name_what_several_workspaces_need(emulator: SlackEmulator, database_url: str) -> None:
    settings = app_settings(emulator, database_url, SLACK_BOT_TOKEN=None, SLACK_CLIENT_ID=CLIENT_ID)
    assert settings.oauth
    assert [line.split(" ", 1)[0] for line in settings.missing_for_run()] == ["SLACK_CLIENT_SECRET"]
    socket = app_settings(
        emulator,
        database_url,
        SLACK_BOT_TOKEN=None,
        SLACK_CLIENT_ID=CLIENT_ID,
        SLACK_CLIENT_SECRET=CLIENT_SECRET,
        SLACK_APP_TOKEN="xapp-1-token",
    )
    assert [line.split(":", 1)[0] for line in socket.missing_for_run()] == ["SLACK_APP_TOKEN"]
    single = app_settings(emulator, database_url, SLACK_CLIENT_ID=CLIENT_ID, SLACK_CLIENT_SECRET="x")
    assert not single.oauth and single.missing_for_run() == []


def test_cdp_bot_run_installs_and_answers_two_workspaces(
    tmp_path: Path, two_workspaces: SlackEmulator
) -> None:
    """`cdp-bot run` as an operator starts it with only the client id and secret: installs in two
    workspaces through its own pages, then answers each with its own token."""
    import signal
    import subprocess

    from tests.test_cli import CDP_BOT, clean_env, free_port

    two_workspaces.oauth_app(CLIENT_ID, CLIENT_SECRET, scopes=BOT_SCOPES)
    port = free_port()
    env = clean_env(
        SLACK_CLIENT_ID=CLIENT_ID,
        SLACK_CLIENT_SECRET=CLIENT_SECRET,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=two_workspaces.api_url,
        PORT=str(port),
        HOST="127.0.0.1",
    )
    process = subprocess.Popen(
        [CDP_BOT, "run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while get_or_none(url + "/healthz") is None:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "cdp-bot run did not serve /healthz"
            time.sleep(0.2)
        for team in (TEAM_A, TEAM_B):
            page = get(f"{url}/slack/install")
            state = re.search(r"state=([0-9a-f-]+)", page.text)
            assert state is not None
            cookie = page.headers["set-cookie"].split(";", 1)[0]
            code = two_workspaces.authorize(team)
            done = get(f"{url}/slack/oauth_redirect?code={code}&state={state.group(1)}", {"Cookie": cookie})
            assert done.status == 200 and "is now installed" in done.text
        for team, user in ((TEAM_A, ALICE), (TEAM_B, BASTIEN)):
            sender = SignedSender(url, SIGNING_SECRET, two_workspaces, team_id=team)
            assert "/cdp" in sender.command("help", user).text
            assert [c.params["user"] for c in two_workspaces.calls_by(team, "users.info")] == [user]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert '"msg": "several workspaces (OAuth)"' in stderr
    for team in (TEAM_A, TEAM_B):
        assert two_workspaces.workspace(team).token not in stderr
    assert CLIENT_SECRET not in stderr


def get_or_none(url: str) -> HttpResult | None:
    try:
        return get(url)
    except OSError:
        return None
