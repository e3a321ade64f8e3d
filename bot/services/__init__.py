"""Use-cases: take a storage session and domain rules, return results. No Slack payloads here."""
