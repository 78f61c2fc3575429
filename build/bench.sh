#!/usr/bin/env bash
# Measures every backend the same way with `libkv bench` against real servers started here on loopback ports.
# Usage: build/bench.sh [duration-seconds] [backend ...]   (default: 5 s; memory consul etcd zookeeper)
# Needs what build/test.sh installs. Servers run with their default durability (etcd and ZooKeeper fsync;
# Consul -dev keeps data in memory) and are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
duration=${1:-5}
shift || true
backends=("$@")
[ ${#backends[@]} -gt 0 ] || backends=(memory consul etcd zookeeper)

tmp=$(mktemp -d)
# Servers are started inside $(...) subshells, so their PIDs go to a file rather than a variable.
cleanup() { [ -f "$tmp/pids" ] && while read -r p; do kill -9 "$p" 2>/dev/null || true; done < "$tmp/pids"; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

dotnet build src/LibKv.Cli -c Release -nologo -v quiet >/dev/null
cli="$repo/src/LibKv.Cli/bin/Release/net10.0/LibKv.Cli"

endpoint_of() {
  case "$1" in
    memory) echo "bench-space" ;;
    consul)
      local http serf_lan serf_wan server
      http=$(free_port); serf_lan=$(free_port); serf_wan=$(free_port); server=$(free_port)
      echo 'session_ttl_min = "1s"' > "$tmp/consul.hcl"
      "$repo/.tools/consul/usr/bin/consul" agent -dev -client 127.0.0.1 -bind 127.0.0.1 -http-port "$http" -dns-port -1 \
        -serf-lan-port "$serf_lan" -serf-wan-port "$serf_wan" -server-port "$server" -grpc-port -1 \
        -config-file "$tmp/consul.hcl" >"$tmp/consul.log" 2>&1 &
      echo $! >> "$tmp/pids"; wait_port "$http" >&2; echo "127.0.0.1:$http" ;;
    etcd)
      local client peer
      client=$(free_port); peer=$(free_port)
      /usr/bin/etcd --name bench --data-dir "$tmp/etcd" --listen-client-urls "http://127.0.0.1:$client" \
        --advertise-client-urls "http://127.0.0.1:$client" --listen-peer-urls "http://127.0.0.1:$peer" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer" --initial-cluster "bench=http://127.0.0.1:$peer" \
        >"$tmp/etcd.log" 2>&1 &
      echo $! >> "$tmp/pids"; wait_port "$client" >&2; echo "127.0.0.1:$client" ;;
    zookeeper)
      local port cp=""
      port=$(free_port); mkdir -p "$tmp/zk"
      printf 'tickTime=2000\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\nadmin.enableServer=false\n' "$tmp/zk" "$port" > "$tmp/zoo.cfg"
      for j in zookeeper zookeeper-jute slf4j-api slf4j-simple netty-buffer netty-codec netty-common netty-handler \
               netty-resolver netty-transport netty-transport-native-epoll netty-transport-native-unix-common \
               jackson-annotations jackson-core jackson-databind commons-cli commons-io metrics-core snappy-java; do
        [ -f "/usr/share/java/$j.jar" ] && cp="$cp:/usr/share/java/$j.jar"
      done
      java -Xmx512m -cp "${cp#:}" -Dzookeeper.extendedTypesEnabled=true -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
        org.apache.zookeeper.server.quorum.QuorumPeerMain "$tmp/zoo.cfg" >"$tmp/zk.log" 2>&1 &
      echo $! >> "$tmp/pids"; wait_port "$port" >&2; echo "127.0.0.1:$port" ;;
  esac
}

ready() {
  for _ in $(seq 1 100); do
    "$cli" exists libkv-bench-probe --backend "$1" --endpoints "$2" >/dev/null 2>&1
    [ $? -ne 3 ] && return 0
    sleep 0.2
  done
  echo "$1 at $2 never answered" >&2; return 1
}

for backend in "${backends[@]}"; do
  endpoint=$(endpoint_of "$backend")
  set +e; ready "$backend" "$endpoint"; rc=$?; set -e
  [ $rc -eq 0 ] || exit 1
  for op in get put cas watch; do
    for concurrency in 1 64; do
      echo "== $backend $op concurrency=$concurrency"
      "$cli" bench --backend "$backend" --endpoints "$endpoint" --op "$op" --concurrency "$concurrency" \
        --duration "$duration" --warmup 1 | sed 's/^/   /'
    done
  done
done
