"""Slack transport only: one module per surface, each with `register(app, deps)`."""

from __future__ import annotations

from slack_bolt import App

from bot.runtime import Deps
from handlers import (
    activity,
    buttons,
    commands,
    communities,
    context,
    errors,
    follow_ups,
    gate,
    home,
    key_people,
    pairing,
    products,
    review_together,
    reviews,
    welcome,
    workspaces,
)


def first_middleware(deps: Deps) -> gate.PayloadGate:
    """The payload gate, for App(before_authorize=...): it must run before Bolt's own authorization and
    self-event filter, which already read the payload (an `"event": null` breaks them), so it cannot
    be an `app.middleware` registered in register_all (those run after Bolt's)."""
    return gate.PayloadGate(deps)


def register_all(app: App, deps: Deps) -> None:
    context.register(app, deps)
    errors.register(app)
    # Bolt tries listeners in the order they were registered, building each one's arguments to match it
    # (~25 us a try): messages and reactions, most of the traffic, match the first two, not the 22nd.
    # No other listener takes a message or reaction event, so the order changes nothing else.
    activity.register_counting(app)
    commands.register(app)
    communities.register(app)
    activity.register(app)
    reviews.register(app)
    review_together.register(app)  # issue 11 item 4: the pulse
    buttons.register(app)
    welcome.register(app)
    pairing.register(app)
    products.register(app)
    home.register(app)
    key_people.register(app)  # issue 11 item 7
    follow_ups.register(app)  # issue 11 item 5
    workspaces.register(app, deps)  # issue 12 item 1: uninstalls (several workspaces)
