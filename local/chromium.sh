#!/usr/bin/env bash
# The browser of the codec server's browser test: Debian's chromium, installed with apt-get when it is missing
# (playwright-core drives it; its own browser download cannot be used here). Prints the executable's path.
#
#   local/chromium.sh   install if needed (root, or sudo), print the path of chromium
set -euo pipefail

bin=${ICETIDE_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$bin" ]; then
  command -v apt-get >/dev/null || { echo "[chromium] error: $bin is missing and there is no apt-get to install it" >&2; exit 1; }
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "[chromium] installing Debian's chromium (first time only, a few minutes)" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >&2
fi
echo "$bin"
