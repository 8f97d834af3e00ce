"""`python -m vizcore`: JSON out, exit 2 with one line on bad input; vizcore never imports streamlit."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vizcore.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vizcore", *args], cwd=ROOT, capture_output=True, text=True,
                          input=stdin, timeout=300)


def test_vizcore_does_not_import_streamlit() -> None:
    code = ("import sys, pkgutil, importlib, vizcore;"
            "mods = [m.name for m in pkgutil.walk_packages(vizcore.__path__, 'vizcore.') "
            "if not m.name.endswith('__main__')];"
            "[importlib.import_module(m) for m in mods];"
            "print(len(mods), 'streamlit' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    n, imported = out.stdout.split()
    assert int(n) > 40 and imported == "False"  # every module of every sub-package was imported


def test_no_import_cycles_between_sub_packages() -> None:
    """Each sub-package imports only the ones below it (the order in vizcore/__init__'s docstring)."""
    import ast

    order = ["core", "models", "data", "arch", "inspect", "train", "lab", "figures", "cli"]
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


def test_summary_alexnet_227_json() -> None:
    res = run_cli("summary", "--model", "alexnet_227", "--input", "3x227x227", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
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


def test_summary_from_spec_stdin() -> None:
    res = run_cli("summary", "--spec", "-", "--json", stdin="input 1 28 28\nconv 5 6\nrelu\npool max 2\nfc 10\n")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["output"] == [10]


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


@pytest.mark.parametrize("args", [["--help"], ["outsize", "--input", "227", "--kernel", "11", "--stride", "4"],
                                  ["outsize", "--help"]])
def test_help_and_outsize_do_not_import_torch(args: list[str]) -> None:
    code = (f"import sys\nfrom vizcore.cli.main import main\ntry:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write(' '.join(m for m in ('torch', 'numpy', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stderr.strip() == "", out.stderr  # none of the heavy modules was imported


def test_a_command_that_needs_its_arguments_still_gets_them() -> None:
    res = run_cli("train", "--help")
    assert res.returncode == 0 and "--label-smoothing" in res.stdout and "Szegedy" in res.stdout


def test_duplicate_command_names_are_refused() -> None:
    from vizcore.cli.registry import command

    with pytest.raises(ValueError, match="duplicate 'outsize'"):
        command("outsize", "again", lambda p: None)(lambda a: None)
