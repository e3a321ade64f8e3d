"""The emulator's OAuth v2: installing the app in a workspace, as Slack plays it.

`emulator.oauth_app(client_id, client_secret, rotation=...)` registers the app; `emulator.authorize(team)`
is the admin approving the install in their browser: it returns the `code` Slack would append to the
redirect URL. `oauth.v2.access` (client id and secret in HTTP Basic auth, as slack_sdk sends them)
exchanges the code for the workspace's bot token once, and, with token rotation, a refresh token for a
new token (the old one then answers `token_expired`)."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.testing.slack_emulator import SlackEmulator

JSON = dict[str, Any]


@dataclass
class OAuthApp:
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    rotation: bool = False
    token_lifetime: int = 43200  # seconds, Slack's 12 hours
    codes: dict[str, tuple[str, bool, str]] = field(
        default_factory=dict
    )  # code -> (team|org, org-wide, user)
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # refresh token -> owner
    org_wide: set[str] = field(default_factory=set)  # orgs installed org-wide
    grants: list[JSON] = field(default_factory=list)  # every oauth.v2.access answered (tests read it)

    def org_installed(self, enterprise_id: str) -> bool:
        return enterprise_id in self.org_wide


def oauth_app(
    s: SlackEmulator,
    client_id: str,
    client_secret: str,
    *,
    scopes: tuple[str, ...] = ("commands", "chat:write"),
    rotation: bool = False,
    token_lifetime: int = 43200,
) -> OAuthApp:
    app = OAuthApp(client_id, client_secret, tuple(scopes), rotation, token_lifetime)
    s.oauth = app
    return app


def authorize(
    s: SlackEmulator, team_id: str, *, org_wide: bool = False, installer: str = "UINSTALLER"
) -> str:
    """An admin of `team_id` approved the install (of its whole org with `org_wide`): the code Slack puts
    on the redirect URL, good for one exchange."""
    assert s.oauth is not None, "call emulator.oauth_app(...) first"
    owner = team_id
    if org_wide:
        enterprise = s.workspaces[team_id].enterprise_id
        assert enterprise is not None, f"{team_id} is in no Enterprise Grid org"
        owner = enterprise
    code = f"code-{secrets.token_hex(8)}"
    s.oauth.codes[code] = (owner, org_wide, installer)
    return code


def _client_checked(s: SlackEmulator, p: JSON) -> Any:
    from bot.testing.slack_emulator import SlackApiFailure

    app = s.oauth
    if app is None:
        raise SlackApiFailure("invalid_client_id")
    client_id, client_secret = p.get("client_id"), p.get("client_secret")
    if p.get("_client_auth"):
        decoded = base64.b64decode(str(p["_client_auth"])).decode("utf-8")
        client_id, _, client_secret = decoded.partition(":")
    if client_id != app.client_id:
        raise SlackApiFailure("invalid_client_id")
    if client_secret != app.client_secret:
        raise SlackApiFailure("bad_client_secret")
    return app


def _new_token(s: SlackEmulator, app: OAuthApp, owner: str) -> JSON:
    """A bot token for `owner` (a workspace, or an org for an org-wide install), valid from now on."""
    workspace = s.workspaces.get(owner)
    if not app.rotation and workspace is not None:
        token = workspace.token  # without rotation, a workspace's bot token never changes
    else:
        token = f"xoxe.xoxb-{owner.lower()}-{secrets.token_hex(6)}"
    s.token_owner[token] = owner
    answer: JSON = {"access_token": token, "token_type": "bot"}
    if app.rotation:
        refresh = f"xoxe-1-{secrets.token_hex(8)}"
        app.refresh_tokens[refresh] = owner
        answer.update(refresh_token=refresh, expires_in=app.token_lifetime)
    return answer


def oauth_v2_access(s: SlackEmulator, p: JSON) -> JSON:
    from bot.testing.slack_emulator import SlackApiFailure

    app = _client_checked(s, p)
    if p.get("grant_type") == "refresh_token":
        owner = app.refresh_tokens.pop(str(p.get("refresh_token") or ""), None)
        if owner is None:
            raise SlackApiFailure("invalid_refresh_token")
        for token, whose in list(s.token_owner.items()):  # the previous token is over
            if whose == owner:
                s.revoke(token, "token_expired")
        answer = _new_token(s, app, owner)
        app.grants.append({"grant_type": "refresh_token", "owner": owner})
        return answer
    code = str(p.get("code") or "")
    if code not in app.codes:
        raise SlackApiFailure("invalid_code")
    owner, org_wide, installer = app.codes.pop(code)  # a code is good once
    team: JSON | None
    enterprise: JSON | None
    if org_wide:
        app.org_wide.add(owner)
        workspace = next(w for w in s.workspaces.values() if w.enterprise_id == owner)
        team, enterprise = None, {"id": owner, "name": owner.lower()}
    else:
        workspace = s.workspaces[owner]
        team = {"id": workspace.team_id, "name": workspace.domain}
        enterprise = (
            {"id": workspace.enterprise_id, "name": workspace.enterprise_id.lower()}
            if workspace.enterprise_id
            else None
        )
    answer = _new_token(s, app, owner)
    answer.update(
        scope=",".join(app.scopes),
        bot_user_id=workspace.bot_user_id,
        app_id="ACDPBOT",
        team=team,
        enterprise=enterprise,
        is_enterprise_install=org_wide,
        authed_user={"id": installer},
    )
    app.grants.append({"grant_type": "authorization_code", "owner": owner})
    return answer
