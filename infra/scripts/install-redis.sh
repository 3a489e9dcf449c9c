#!/usr/bin/env bash
# Install Redis from Debian's package when redis-server is missing (idempotent, ~16 s the first time).
# The Debian service is kept from auto-starting: the project starts its own redis-server under var/.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: redis-server is missing and apt-get is not available; install Redis >= 7 yourself" >&2; exit 1
fi
SUDO=""; if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null; $SUDO chmod +x /usr/sbin/policy-rc.d; created_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q --no-install-recommends redis-server >/dev/null 2>&1 \
  || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q --no-install-recommends redis-server >/dev/null; }
if [ "$created_policy" = 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
redis-server --version
