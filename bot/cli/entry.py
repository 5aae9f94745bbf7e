"""The ``stackbot`` executable: quiet library warnings, then run the CLI.

Third-party libraries warn at import time (cryptography's DSA deprecation when
asyncssh loads, for one); a user's terminal is not the place for them. They are
ignored here, before anything else is imported, unless ``--debug`` is given or
Python was asked for warnings (``-W``, ``PYTHONWARNINGS``). The project's own
tests still turn warnings into errors (pyproject's ``filterwarnings``).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence


def wants_warnings(argv: Sequence[str]) -> bool:
    """``--debug`` before the command name, or warnings asked of Python itself."""
    rest = iter(argv)
    for arg in rest:
        if arg == "--debug":
            return True
        if arg == "--config":
            next(rest, None)  # its value
        elif not arg.startswith("-"):
            break  # the command name: later options are the command's own
    return bool(sys.warnoptions)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not wants_warnings(args):
        warnings.simplefilter("ignore")
    from bot.cli.main import main as run_cli  # imported after the filter: import warnings too

    return run_cli(args)
