"""cdp-bot: a Slack app for Communities of Practice (communautés de pratique)."""

__version__ = "0.1.0"
