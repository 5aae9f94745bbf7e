"""The accuracy benchmark: a corpus of Compose incidents, built on the lab, diagnosed, scored.

- ``model``: what a scenario file declares (``Scenario``, ``Expect``, ``Required``);
- ``corpus``: loads every file of ``scenarios/`` (one scenario each);
- ``score``: compares a diagnosis's findings with a scenario's expectations (pure);
- ``run``: builds a scenario on the lab and diagnoses it the way
  ``stackbot diagnose ENV --format json`` does;
- ``markdown``: the table ``scripts/bench accuracy`` prints and writes.
"""
