"""CLI sub-commands for train (filled in by that feature)."""
from __future__ import annotations
