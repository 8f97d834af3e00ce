#!/usr/bin/env bash
# Lint (ruff: errors, imports, bugbear, complexity) and types (mypy on vizcore), as configured in pyproject.toml.
# Run from anywhere with the project's interpreter, e.g.  bash tests/quality.sh .venv/bin/python
# (default: python3 on PATH). Exits non-zero when either tool finds a problem; both always run.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${1:-python3}"
status=0
for tool in ruff mypy; do
    if ! "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$tool') is None)"; then
        echo "$tool is not installed for $PY: pip install -r requirements-dev.txt" >&2
        exit 2
    fi
done
echo "ruff check ."
"$PY" -m ruff check . --output-format concise || status=1
echo "mypy (files and options from pyproject.toml)"
"$PY" -m mypy || status=1
exit $status
