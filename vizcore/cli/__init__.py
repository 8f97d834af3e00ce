"""``python -m vizcore``: the registry (a leaf), the entry point (main) and one module per group of commands.

Modules for use from outside (``__all__``):

* ``main`` — the entry point: parses the command line and runs one registered command (``vizcore/__main__.py``)

Internal: ``registry`` (the command registry every command module imports) and the command modules, which main
imports so that they register: ``attack``, ``cam``, ``data``, ``deformable``, ``few_labels``, ``first_classifiers``, ``geometry``,
``inspect_cmds``, ``lab``, ``models``, ``playground``, ``power``, ``rf``, ``scaling``, ``trace``, ``train``; and
``weights_arg`` (the one reading of ``--weights`` every inspection command shares).

The modules are imported on use, never here.

May import every vizcore package, but only inside a command's ``run`` (torch is never imported for ``--help``)."""

__all__ = ["main"]
