"""``python -m cli``: the ``codex-relay`` command."""

import sys

from .main import main

sys.exit(main())
