"""Block Kit builders: data in, blocks out. No Slack client calls, no SQL."""
