"""The diagnose runbook (declared in ``runbook.py``): facts, pure checks, judgement."""
