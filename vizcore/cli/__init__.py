"""``python -m vizcore``: the registry (a leaf), the entry point (main) and one module per group of commands.

May import every vizcore package, but only inside a command's ``run`` (torch is never imported for ``--help``)."""
