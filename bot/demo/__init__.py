"""`cdp-bot demo`: the real app against the bundled Slack emulator, played on a fast clock."""
