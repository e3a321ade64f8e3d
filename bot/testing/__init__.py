"""Test, demo and benchmark support: the Slack emulator and a signed request sender."""
