"""The Ray executor's hub actor: events of every run of one app, kept until the app drains them, and the cancel
flags the tasks poll.

A module of its own that imports nothing: the actor's process imports only this (Ray pickles the class by its
module), not torch and the training code that :mod:`vizcore.lab.ray_executor` brings with it.
"""
from __future__ import annotations


class Hub:
    """Events of every run of this app, kept until the app drains them; the cancel flags."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []
        self.cancels: set[str] = set()

    def put(self, run_id: str, event: dict) -> None:
        self.events.append((run_id, event))

    def drain(self) -> list[tuple[str, dict]]:
        out, self.events = self.events, []
        return out

    def cancel(self, run_id: str) -> None:
        self.cancels.add(run_id)

    def cancelled(self, run_id: str) -> bool:
        return run_id in self.cancels
