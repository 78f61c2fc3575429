#!/usr/bin/env bash
# Provides the etcd server binary the LibKv.Etcd tests start (/usr/bin/etcd, Debian package etcd-server).
# Idempotent: does nothing when etcd is already there. Run as root; uses the machine's configured apt sources
# (see /etc/apt/sources.list.d/debian.sources), never a hard-coded mirror.
set -euo pipefail

if [ -x /usr/bin/etcd ] || [ -n "${ETCD_BIN:-}" -a -x "${ETCD_BIN:-/nonexistent}" ]; then
  echo "etcd present: $( (${ETCD_BIN:-/usr/bin/etcd} --version 2>/dev/null || true) | head -n 1)"
  exit 0
fi

if [ ! -f /etc/apt/sources.list.d/debian.sources ] && [ ! -f /etc/apt/sources.list ]; then
  echo "install-etcd.sh: no apt sources configured (/etc/apt/sources.list.d/debian.sources); cannot install etcd-server" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends etcd-server >/dev/null

# The package starts a system etcd on 2379 where an init system runs; the tests start their own on free ports.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
  systemctl stop etcd || true
  systemctl disable etcd >/dev/null 2>&1 || true
fi

/usr/bin/etcd --version | head -n 1
