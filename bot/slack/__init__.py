"""The Slack surface: `/stack` commands, reports as Block Kit, fix buttons."""
