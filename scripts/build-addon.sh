#!/usr/bin/env bash
# Builds the native addon with node-gyp, against the local Node headers when they are installed (no download).
set -euo pipefail
cd "$(dirname "$0")/../native"
args=()
node_prefix="$(dirname "$(dirname "$(command -v node)")")"
if [ -z "${npm_config_nodedir:-}" ] && [ -f "$node_prefix/include/node/node_api.h" ]; then args+=("--nodedir=$node_prefix"); fi
exec ../node_modules/.bin/node-gyp rebuild "${args[@]}" --loglevel=warn
