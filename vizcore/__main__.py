"""``python -m vizcore <command> ... [--json]``: every capability of the app, scriptable."""
from __future__ import annotations

import gc

from vizcore.cli.main import main

status = main()
# The process ends here: freezing what is alive keeps the interpreter's shutdown from garbage-collecting torch's
# and torchvision's hundreds of thousands of objects one by one (about 2 s of every command on 2 CPU cores).
gc.freeze()
raise SystemExit(status)
