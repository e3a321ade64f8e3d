"""Several workspaces (OAuth): the app uninstalled, or its bot token revoked. Bolt's own listeners
delete the installation; the workspace's data is then scheduled for deletion (bot/services/workspaces)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from slack_bolt import App, BoltContext

from bot.runtime import Deps
from bot.services import workspaces as service


def register(app: App, deps: Deps) -> None:
    workspaces = deps.workspaces
    if workspaces is None or not workspaces.oauth:
        return  # one workspace: its token is the operator's, set in the environment
    delete_installation = app.default_app_uninstalled_event_listener()
    delete_tokens = app.default_tokens_revoked_event_listener()

    def forget(context: BoltContext) -> None:
        teams = service.uninstalled(
            deps.db,
            team_id=context.team_id,
            enterprise_id=context.enterprise_id,
            org_install=bool(context.is_enterprise_install),
            now=deps.clock.now(),
            grace=timedelta(days=deps.settings.uninstall_grace_days),
        )
        workspaces.forget([*teams, *([context.team_id] if context.team_id else [])])

    @app.event("app_uninstalled")
    def app_uninstalled_callback(context: BoltContext) -> None:
        delete_installation(context=context)
        if context.is_enterprise_install and context.enterprise_id:
            # An org-wide install is stored under the org alone (no team): Bolt's listener deletes by
            # the event's team as well, which would leave it behind.
            workspaces.installation_store.delete_all(enterprise_id=context.enterprise_id, team_id=None)
        forget(context)

    @app.event("tokens_revoked")
    def tokens_revoked_callback(event: dict[str, Any], context: BoltContext) -> None:
        delete_tokens(event=event, context=context)
        tokens = event.get("tokens") if isinstance(event.get("tokens"), dict) else {}
        if tokens and tokens.get("bot"):  # without its bot token the app can do nothing there
            forget(context)
