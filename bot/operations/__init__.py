"""The operations layer: what the CLI, Slack and the watcher ask for, written once.

::

    CLI (bot/cli)      Slack (bot/slack)      watcher (bot/oncall)
         └──────── parse, authorise, render ───────┘
                              │  Requester(actor, surface)
                              ▼
    Operations.diagnose │ report │ propose_fix → apply_fix / decline │ deny
        every audit row of the request; the post-check; one shared transport
                              │
                              ▼
    bot/framework/engine (a runbook on every host) · bot/framework/executor (lock, re-plan, apply)

The rows, the same from every surface (docs/AUDIT.md):

- diagnose: ``requested → diagnosed``
- a report (any read-only runbook: disk, volumes, logs, ps…): ``requested → finished``
- a fix: ``requested → authorised → planned → confirmed → started → finished →
  post_checked`` (``finished`` right after ``planned`` when it is refused, has
  nothing to do or is a dry run; ``denied`` when not confirmed)
- a refusal: ``denied``

``reports`` describes every report runbook from its ``Params`` (words, options,
usage, permission), so the front ends need no code of their own for a new one;
``tables`` is the neutral shape a report's result may take (a table, or lines).

Under a flood (two hundred ``/stack diagnose prod`` in a minute): ``coalesce``
lets identical diagnoses and button plans in flight share one run (every
request keeps its own rows; a shared ``diagnosed`` row names the run's owner in
``shared_with``), and ``limits`` runs at most ``RUNS_PER_ENVIRONMENT`` at once
per environment, the rest queued in order.
"""

from bot.operations.fixes import REPORT_FIXES, FixRequest, post_check_findings
from bot.operations.limits import RUNS_PER_ENVIRONMENT
from bot.operations.params import validated
from bot.operations.reports import (
    PERMISSION_OF_RISK,
    Option,
    ReportSpec,
    report_spec,
    report_specs,
)
from bot.operations.requester import WATCHER, Requester
from bot.operations.service import Operations
from bot.operations.tables import Tabular, Textual, render_outcome

__all__ = [
    "PERMISSION_OF_RISK",
    "REPORT_FIXES",
    "RUNS_PER_ENVIRONMENT",
    "WATCHER",
    "FixRequest",
    "Operations",
    "Option",
    "ReportSpec",
    "Requester",
    "Tabular",
    "Textual",
    "post_check_findings",
    "render_outcome",
    "report_spec",
    "report_specs",
    "validated",
]
