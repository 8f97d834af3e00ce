"""``python -m vizcore <command> ... [--json]``: every capability of the app, scriptable."""
from __future__ import annotations

from vizcore.cli.main import main

raise SystemExit(main())
