"""On-call: rotation, alert intake, incidents, escalation, the watcher (docs/ONCALL.md)."""
