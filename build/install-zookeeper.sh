#!/usr/bin/env bash
# Provides the ZooKeeper server the LibKv.ZooKeeper tests start: the Debian package's jars under /usr/share/java
# and a Java runtime. Idempotent; run as root. apt-get uses the mirror configured in
# /etc/apt/sources.list.d/debian.sources, so no registry host is named here.
set -euo pipefail

need=()
[ -f /usr/share/java/zookeeper.jar ] || need+=(zookeeper)
[ -f /usr/share/java/slf4j-simple.jar ] || need+=(libslf4j-java)
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)

if [ ${#need[@]} -eq 0 ]; then
  echo "zookeeper: already installed ($(ls /usr/share/java/zookeeper-[0-9]*.jar 2>/dev/null | head -n1))"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "zookeeper: missing ${need[*]}; run this script as root" >&2
  exit 1
fi

if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
  echo "zookeeper: installing ${need[*]} from ${mirror:-the configured apt sources}"
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
# The package's own service must not hold port 2181 or start with the machine; the tests run their own servers.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now zookeeper >/dev/null 2>&1 || true; fi
test -f /usr/share/java/zookeeper.jar
echo "zookeeper: installed"
