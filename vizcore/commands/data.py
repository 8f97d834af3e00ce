"""CLI sub-commands for data (filled in by that feature)."""
from __future__ import annotations
