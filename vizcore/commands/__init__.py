"""CLI sub-commands, one module per concept; importing a module registers its commands."""
from __future__ import annotations

from vizcore.commands import data, geometry, lab, models, rf, train  # noqa: F401
