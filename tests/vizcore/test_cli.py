"""`python -m vizcore`: JSON out, exit 2 with one line on bad input; vizcore never imports streamlit.

Commands run in-process through ``main`` (capsys); one test starts fresh interpreters, for what only a new
process shows: the exit status of ``python -m vizcore``, which modules a command imports, and that no vizcore
module imports streamlit.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from vizcore.cli.main import main

ROOT = Path(__file__).resolve().parents[2]

# One fresh interpreter: --help, outsize and `outsize --help` leave torch, numpy and torchvision unimported; the check
# of a small model's uploaded weights (what a page's child process runs) and a pool worker's run of the default recipe
# leave torchvision unimported; streamlit is absent throughout. (That no vizcore module imports streamlit anywhere,
# function-level imports included, is read from the sources below: importing every module here only to look cost
# this process seconds of CPU.)
_FRESH_PROCESS_PROBE = """
import io, json, sys
from contextlib import redirect_stderr, redirect_stdout
from vizcore.cli.main import main
heavy = {}
for args in (["--help"], ["outsize", "--input", "227", "--kernel", "11", "--stride", "4"], ["outsize", "--help"]):
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        try:
            main(args)
        except SystemExit:
            pass
    heavy[" ".join(args)] = [m for m in ("torch", "numpy", "torchvision") if m in sys.modules]
import os, tempfile
from safetensors.torch import save_file
from vizcore.arch.own_model import check_here
from vizcore.models.registry import build_model
with tempfile.TemporaryDirectory() as d:
    save_file(build_model("small_cnn", num_classes=3).state_dict(), os.path.join(d, "w.safetensors"))
    check_here("small_cnn", os.path.join(d, "w.safetensors"))
heavy["check small_cnn weights"] = [m for m in ("torchvision",) if m in sys.modules]
from vizcore.lab import pool  # what a pool worker imports, then a run of the default recipe (flips) as it trains one
from vizcore.train.config import TrainConfig
from vizcore.train.engine import Run
run = Run(TrainConfig(model="small_cnn", dataset="shapes", train_size=64, val_size=32, epochs=1, batch_size=32))
run.run_sync()
heavy["pool worker, default run"] = [m for m in ("torchvision",) if m in sys.modules] + [run.status]
print(json.dumps({"heavy": heavy, "streamlit": "streamlit" in sys.modules}))
"""


@pytest.mark.slow
def test_fresh_processes_exit_codes_lazy_torch_and_no_streamlit() -> None:
    # the exit status and streams of `python -m vizcore` itself (vizcore/__main__.py), good and bad input
    ok = subprocess.run([sys.executable, "-m", "vizcore", "outsize", "--input", "227", "--kernel", "11", "--stride",
                         "4", "--padding", "0", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and ok.stderr == "", ok.stderr
    assert json.loads(ok.stdout)["output"] == [16, 55, 55]
    bad = subprocess.run([sys.executable, "-m", "vizcore", "outsize", "--input", "4", "--kernel", "7"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1 and "smaller than 1" in bad.stderr
    probe = subprocess.run([sys.executable, "-c", _FRESH_PROCESS_PROBE], cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    assert found["heavy"] == {"--help": [], "outsize --input 227 --kernel 11 --stride 4": [], "outsize --help": [],
                              "check small_cnn weights": [], "pool worker, default run": ["done"]}
    assert found["streamlit"] is False


def _imported(node) -> list[str]:
    """The module names an AST node imports: ``import a, b``, ``from a import x`` (absolute) and
    ``importlib.import_module("a")`` / ``__import__("a")`` with a literal name."""
    import ast

    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        return [node.module] if node.level == 0 and node.module else []
    if (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")):
        return [node.args[0].value]
    return []


def test_no_vizcore_module_imports_streamlit() -> None:
    """vizcore never imports streamlit: no import of it in any module, at any depth (function-level imports and
    ``importlib.import_module("streamlit...")`` included)."""
    import ast

    files = sorted((ROOT / "vizcore").rglob("*.py"))
    assert len(files) > 40
    bad = [f"{path.relative_to(ROOT)}:{node.lineno} imports {name}"
           for path in files for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path)))
           for name in _imported(node) if name == "streamlit" or name.startswith("streamlit.")]
    assert not bad, bad


def test_no_import_cycles_between_sub_packages() -> None:
    """Each sub-package imports only the ones below it (the order in vizcore/__init__'s docstring)."""
    import ast

    order = ["core", "models", "data", "arch", "inspect", "robust", "train", "lab", "figures", "cli"]
    allowed_up = {("models", "data")}  # models.preprocess resizes photos with data.images (lazily)
    bad = []
    for path in (ROOT / "vizcore").rglob("*.py"):
        rel = path.relative_to(ROOT / "vizcore").parts
        if len(rel) < 2:
            continue
        here = rel[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vizcore."):
                there = node.module.split(".")[1]
                if there in order and order.index(there) > order.index(here) and (here, there) not in allowed_up:
                    if not (here == "figures" and there != "cli"):  # figures only draw: any package may feed them
                        bad.append(f"{'/'.join(rel)} imports vizcore.{there}")
    assert not bad, bad


def _module_graph(dirs: tuple[str, ...]) -> dict[str, set[str]]:
    """{module: the modules of ``dirs`` it imports, at any depth (function-level imports too)}; ``from a import b``
    counts as importing ``a.b`` when that is a module of its own."""
    import ast

    files = {".".join(f.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): f
             for d in dirs for f in (ROOT / d).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        out = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in files else node.module
                           for a in node.names]
            out.update(t for t in targets if t in files and t != name)
        graph[name] = out
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_between_modules() -> None:
    """No two modules of vizcore or pages import each other, directly or round a loop, at any depth: a lazy import
    inside a function hides a loop from Python, not from the reader."""
    graph = _module_graph(("vizcore", "pages"))
    assert len(graph) > 150 and "vizcore.lab.queue" in graph["vizcore.cli.lab"] | graph["vizcore.lab.experiment"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]  # the finder finds one
    assert not _cycles(graph), _cycles(graph)


@pytest.mark.slow
def test_summary_alexnet_227_json(capsys) -> None:
    assert main(["summary", "--model", "alexnet_227", "--input", "3x227x227", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["params"] == 61100840
    spatial = [layer["out_shape"][1] for layer in data["layers"] if layer["type"] in ("Conv2d", "MaxPool2d")]
    assert spatial == [55, 27, 27, 13, 13, 13, 13, 6]
    assert {"name", "type", "kernel", "stride", "padding", "in_shape", "out_shape", "params", "macs",
            "trainable"} <= set(data["layers"][0])


def test_outsize_json(capsys) -> None:
    assert main(["outsize", "--input", "227", "--kernel", "11", "--stride", "4", "--padding", "0", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["out_height"] == 55 and data["output"] == [16, 55, 55]


def test_models_json(capsys) -> None:
    assert main(["models", "--json"]) == 0
    names = [m["name"] for m in json.loads(capsys.readouterr().out)]
    assert "resnet50" in names and "lenet5" in names


def test_summary_from_spec_stdin(capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("input 1 28 28\nconv 5 6\nrelu\npool max 2\nfc 10\n"))
    assert main(["summary", "--spec", "-", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["output"] == [10]


@pytest.mark.parametrize("args,match", [
    (["outsize", "--input", "4", "--kernel", "7"], "smaller than 1"),
    (["outsize", "--input", "abc", "--kernel", "3"], "expected a shape"),
    (["outsize", "--input", "8", "--kernel", "3", "--padding", "full"], "'same' or 'valid'"),
    (["summary", "--model", "nope"], "expected a model name"),
    (["summary", "--spec", "/no/such/file"], "no such file"),
    (["nosuchcommand"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_one_line(args: list[str], match: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        code = main(args)
        raise SystemExit(code)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and match in err


def test_a_command_that_needs_its_arguments_still_gets_them(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--label-smoothing" in out and "Szegedy" in out


def test_duplicate_command_names_are_refused() -> None:
    from vizcore.cli.registry import command

    with pytest.raises(ValueError, match="duplicate 'outsize'"):
        command("outsize", "again", lambda p: None)(lambda a: None)
