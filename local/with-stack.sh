#!/usr/bin/env bash
# Runs a command against the local stack on the project's Node (local/node.sh): installs node modules when the
# lockfile changed, brings the stack up, exports its addresses, runs the command. With --build, builds dist/ first
# (compiled CLI and workflow bundles, which workers load); with --down, stops afterwards the services that were not
# already up.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."

down_after=false build=false
while [ $# -gt 0 ]; do
  case $1 in
    --down) down_after=true ;;
    --build) build=true ;;
    *) break ;;
  esac
  shift
done

PATH=$(bash local/node.sh):$PATH

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
if $build; then npm run --silent build; fi

was_up=true
bash local/stack.sh status 2>/dev/null || was_up=false
bash local/stack.sh up
# shellcheck source=/dev/null
source <(bash local/stack.sh env)

status=0
"$@" || status=$?
# --keep (the demo's) leaves the stack running for a look around.
if $down_after && ! $was_up && [[ " $* " != *" --keep "* ]]; then bash local/stack.sh down; fi
exit $status
