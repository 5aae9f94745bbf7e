"""The work behind `/stack` and the buttons, run in the background after the ``ack()``.

Each workflow calls ``bot.operations`` (which writes every audit row), renders
with ``bot.render.slack`` and posts through ``bot.slack.chat``:

- ``diagnose``: a diagnosis edited in as it runs, its report with fix buttons, and
  "Diagnose again";
- ``reports``: any other report (volumes, disk, logs, ps…) and ``/stack audit``, as text;
- ``fixes``: a fix button's click: authorise, ask for approval or claim and run the
  stored plan, then the report edited in place, the result, the cure watched;
- ``offers``: the fixes a message offers, each planned now and stored (a button
  carries only the stored id).
"""
