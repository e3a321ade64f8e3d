"""Pure rules: no Slack, no SQL. Plain data in, results out."""
