"""CLI sub-commands for rf (filled in by that feature)."""
from __future__ import annotations
