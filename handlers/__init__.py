"""Slack transport only: one module per surface, each with `register(app, deps)`."""

from __future__ import annotations

from slack_bolt import App

from bot.runtime import Deps
from handlers import activity, commands, communities, context, errors, reviews


def register_all(app: App, deps: Deps) -> None:
    context.register(app, deps)
    errors.register(app)
    commands.register(app)
    communities.register(app)
    activity.register(app)
    reviews.register(app)
