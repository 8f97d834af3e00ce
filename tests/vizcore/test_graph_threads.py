"""Tracing a model with torch.fx while other threads run forward passes (a server's sessions do)."""
from __future__ import annotations

import threading

import torch
from torch import nn

from vizcore.arch.graph import trace


class _Pause(nn.Module):
    """Stops the tracing thread half-way through the trace, until told to go on."""

    def __init__(self, reached: threading.Event, go_on: threading.Event) -> None:
        super().__init__()
        self.reached, self.go_on = reached, go_on

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.reached.set()
        assert self.go_on.wait(30)
        return x


def test_a_forward_in_another_thread_is_not_recorded_by_a_trace_in_progress() -> None:
    reached, go_on = threading.Event(), threading.Event()
    traced = nn.Sequential(nn.Conv2d(3, 4, 3), _Pause(reached, go_on), nn.ReLU())
    other = nn.Sequential(nn.Conv2d(3, 2, 3, bias=False), nn.Flatten())
    result: dict[str, object] = {}

    def tracing() -> None:
        try:
            result["graph"] = trace(traced)
        except Exception as exc:  # pragma: no cover - reported below
            result["error"] = exc

    t = threading.Thread(target=tracing)
    t.start()
    assert reached.wait(30)  # nn.Module.__call__ is patched for the whole process right now
    x = torch.randn(1, 3, 5, 5)
    with torch.no_grad():
        y = other(x)  # before the fix: NameError "module is not installed as a submodule"
    torch.testing.assert_close(y, torch.nn.functional.conv2d(x, other[0].weight).flatten(1))
    go_on.set()
    t.join(30)
    assert "error" not in result, result.get("error")
    gm = result["graph"]
    targets = [n.target for n in gm.graph.nodes if n.op == "call_module"]
    assert targets == ["0", "2"]  # the trace holds its own model's layers only, none of the other thread's
