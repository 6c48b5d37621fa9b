#!/usr/bin/env bash
# Installs Debian's Chromium for the report's browser test, if it is missing.
# Needs root (or sudo): CI machines run as root.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install-browser: chromium is missing and this user cannot install it (needs root or sudo)" >&2
        exit 1
    fi
fi
echo "install-browser: installing Debian's chromium (about 360 MB, with apt-get) for the report's browser test" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
echo "install-browser: installed $(command -v chromium)" >&2
