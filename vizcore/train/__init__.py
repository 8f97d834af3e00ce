"""Training: the config, LR schedules, tricks, budgets, the data a run uses, and the engine (a run with callbacks).

May import: vizcore.core, vizcore.models, vizcore.data."""
