"""``python -m bot.cli``: the same as the ``stackbot`` executable."""

import sys

from bot.cli.entry import main

sys.exit(main())
