"""``python -m jbtrio``: the command-line entry point."""

from __future__ import annotations

import sys

from jbtrio._cli import main

sys.exit(main())
