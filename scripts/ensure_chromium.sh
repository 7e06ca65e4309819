#!/usr/bin/env bash
# The browser tests drive Debian's chromium through Playwright; install it when it is missing.
set -eu
if [ -x /usr/bin/chromium ]; then exit 0; fi
echo "ensure_chromium: installing Debian's chromium for the browser tests."
if [ "$(id -u)" != "0" ]; then SUDO=sudo; else SUDO=""; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
[ -x /usr/bin/chromium ] || { echo "ensure_chromium: FAILED to install chromium." >&2; exit 1; }
