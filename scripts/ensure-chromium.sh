#!/usr/bin/env bash
# Makes sure a Chromium is on this machine for the console's browser tests
# (shared/console, through chromedp); installs Debian's chromium package if
# it is not.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium not found: the console's browser tests need it (Debian: sudo apt-get install -y chromium)" >&2
  exit 1
fi
echo "installing Chromium for the console's browser tests (apt-get install chromium)..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
