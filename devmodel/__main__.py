"""``python -m devmodel``: serve the scripted model until SIGTERM or SIGINT."""

from __future__ import annotations

import sys

from .server import main

if __name__ == "__main__":
    sys.exit(main())
