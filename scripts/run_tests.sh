#!/usr/bin/env bash
# The test command behind `make test`: lint, unit tests, then nbval over the committed chapters.
# pytest exits 5 when it collects nothing; that is treated as a failure for the unit tests (they must
# exist) and never allowed to hide a failing step.
set -uo pipefail
BIN="${1:-.venv/bin}"
export EMHNET_BATCH=1  # plain progress bars on stderr (not compared by nbval)
status=0
started=$(date +%s)

echo "== ruff"
"$BIN/ruff" check . || status=1

echo "== unit tests"
"$BIN/python" -m pytest tests
rc=$?
if [ "$rc" -eq 5 ]; then echo "FAIL: no unit tests were collected"; status=1;
elif [ "$rc" -ne 0 ]; then status=1; fi

echo "== nbval over the committed notebooks"
shopt -s nullglob
notebooks=(notebooks/[0-9][0-9]_*.ipynb)
if [ "${#notebooks[@]}" -eq 0 ]; then
  echo "FAIL: no chapter notebooks found"; status=1
else
  "$BIN/python" -m pytest --nbval --nbval-current-env --nbval-sanitize-with .ci/nbval_sanitize.cfg \
      --nbval-cell-timeout 900 "${notebooks[@]}"
  rc=$?
  if [ "$rc" -ne 0 ]; then status=1; fi
fi

echo "== test command finished in $(( $(date +%s) - started )) s with status $status"
exit $status
