#!/usr/bin/env bash
# Make sure what the test suite needs beyond Python packages is present: tmux, Debian's chromium,
# OpenSSH's server (the SSH tunnel tests start sshd of their own), systemd's tools, nginx (the
# replica tests run deploy/nginx.conf in front of two hubs, as an ordinary user), Redis, and a
# running PostgreSQL.
# Installs with apt when missing (root, or passwordless sudo).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi

need=()
command -v tmux >/dev/null 2>&1 || need+=(tmux)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
[ -x /usr/sbin/nginx ] || need+=(nginx)
# `systemd-analyze verify` checks the unit `agent install-service` writes (systemd need not run).
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# The replica tests run hubs on Redis (the machine's on 6379, and servers of their own to kill).
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  $SUDO apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
    $SUDO apt-get update >/dev/null
    $SUDO apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
  }
fi

# A PostgreSQL cluster that is installed but stopped gets started; the tests themselves report a
# missing server (a failure when CI=true, a visible skip otherwise).
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
fi

# Redis on 127.0.0.1:6379 for the suite's replica and Redis-mode tests: started if not answering.
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting redis-server on 127.0.0.1:6379"
  redis-server --bind 127.0.0.1 --port 6379 --save "" --appendonly no --daemonize yes >/dev/null
fi
