#!/usr/bin/env bash
# Provides the Consul server binary for the LibKv.Consul tests at <repo>/.tools/consul/usr/bin/consul.
# Consul 1.8.7 is packaged in Debian bullseye (not bookworm): the .deb is fetched from the same mirror as the
# system's sources (parsed from /etc/apt/sources.list.d/debian.sources) without touching the system's apt state.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$repo/.tools/consul"
bin="$dest/usr/bin/consul"

if [[ -x "$bin" ]] && "$bin" version >/dev/null 2>&1; then
  echo "consul already installed: $("$bin" version | head -n1)"
  exit 0
fi

sources=/etc/apt/sources.list.d/debian.sources
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -r "$sources" ]] || { echo "install-consul: $sources not found" >&2; exit 1; }

# The first URIs entry of the stanza whose suites include the main release (not -security).
uri="$(awk '
  /^[[:space:]]*$/ { if (u != "" && s ~ /(^|[[:space:]])[a-z]+([[:space:]]|$)/ && s !~ /-security/) { print u; exit } u=""; s=""; next }
  /^URIs:/ { sub(/^URIs:[[:space:]]*/, ""); split($0, a, /[[:space:]]+/); u=a[1] }
  /^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); s=$0 }
  END { if (u != "" && s !~ /-security/) print u }
' "$sources" | head -n1)"
[[ -n "$uri" ]] || { echo "install-consul: no Debian URI found in $sources" >&2; exit 1; }
echo "install-consul: using mirror $uri (suite bullseye)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/sources" "$tmp/lists/partial" "$tmp/archives/partial" "$tmp/download"
cat > "$tmp/sources/bullseye.sources" <<SRC
Types: deb
URIs: $uri
Suites: bullseye
Components: main
Signed-By: $keyring
SRC

opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$tmp/sources"
      -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache::Archives=$tmp/archives"
      -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Sandbox::User=root")

apt-get "${opts[@]}" update -qq
(cd "$tmp/download" && apt-get "${opts[@]}" download consul)
deb="$(ls "$tmp"/download/consul_*.deb | head -n1)"
rm -rf "$dest"
mkdir -p "$dest"
dpkg -x "$deb" "$dest"
"$bin" version
