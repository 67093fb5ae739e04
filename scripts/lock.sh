#!/usr/bin/env bash
# Re-resolve the pinned dependency sets from pyproject.toml's direct dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
python3 -m venv "$tmp/rt"
"$tmp/rt/bin/pip" install -q . && "$tmp/rt/bin/pip" uninstall -q -y text2sql-data-pipeline
"$tmp/rt/bin/pip" freeze > "$tmp/rt.txt"
python3 -m venv "$tmp/dev"
"$tmp/dev/bin/pip" install -q -r "$tmp/rt.txt" ".[test]" && "$tmp/dev/bin/pip" uninstall -q -y text2sql-data-pipeline
"$tmp/dev/bin/pip" freeze > "$tmp/all.txt"
{ echo "# Runtime dependencies, fully pinned (resolved and tested here; the project installs with --no-deps on top)."
  echo "# Regenerate: scripts/lock.sh"; cat "$tmp/rt.txt"; } > requirements.txt
{ echo "# Test and development tools, fully pinned, on top of the runtime set."; echo "-r requirements.txt"
  comm -23 <(sort "$tmp/all.txt") <(sort "$tmp/rt.txt"); } > requirements-dev.txt
rm -rf "$tmp"
