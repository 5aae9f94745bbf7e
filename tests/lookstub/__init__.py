"""A small Block Kit → HTML rendering, and the reports the look test draws with it."""
