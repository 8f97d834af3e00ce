"""CLI sub-commands for geometry and summaries."""
from __future__ import annotations
