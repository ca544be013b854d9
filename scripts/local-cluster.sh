#!/usr/bin/env bash
# Starts an N-node Isengard cluster on this machine, for a person to try.
#
#   scripts/local-cluster.sh N [SPARES]
#
# Node i (1..N) serves REST on 127.0.0.1:$((HTTP_BASE+i-1)), DICOM on
# $((DICOM_BASE+i-1)) and gRPC on $((GRPC_BASE+i-1)); its configuration, data
# and log are in ./isengard-cluster-data/node-i (re-used by the next run: the
# cluster restarts with its data). The nodes share one blob folder,
# ./isengard-cluster-data/blobs. SPARES extra nodes (ids N+1..) are started
# outside Members: they wait until you add them, e.g.
#   target/.../isengard cluster add 4 127.0.0.1:4303 --url http://127.0.0.1:8042
# Ctrl-C stops every node. Builds the binary first, with the shared target
# directory of the Makefile ($CARGO_TARGET_DIR, default ~/.cache/isengard/target).
#
# Environment: HTTP_BASE (8042), DICOM_BASE (4242), GRPC_BASE (4300),
# DATA (./isengard-cluster-data).
set -euo pipefail

usage() { echo "usage: $0 N [SPARES]   (N >= 1 members, SPARES >= 0 nodes waiting to be added)" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
n=$1
spares=${2:-0}
[[ "$n" =~ ^[1-9][0-9]*$ ]] && [[ "$spares" =~ ^[0-9]+$ ]] || usage

http_base=${HTTP_BASE:-8042}
dicom_base=${DICOM_BASE:-4242}
grpc_base=${GRPC_BASE:-4300}
data=${DATA:-./isengard-cluster-data}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/isengard/target}

cd "$(dirname "$0")/.."
cargo build --release --bin isengard
bin="$CARGO_TARGET_DIR/release/isengard"

mkdir -p "$data/blobs"
data=$(cd "$data" && pwd)

members=""
for i in $(seq 1 "$n"); do
  members+="${members:+, }\"$i\": \"127.0.0.1:$((grpc_base + i - 1))\""
done

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping ${#pids[@]} nodes"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop INT TERM EXIT

total=$((n + spares))
for i in $(seq 1 "$total"); do
  dir="$data/node-$i"
  mkdir -p "$dir"
  grpc="127.0.0.1:$((grpc_base + i - 1))"
  cat >"$dir/config.json" <<EOF
{
  "Name": "node-$i",
  "StorageDirectory": "$dir/data",
  "HttpPort": $((http_base + i - 1)),
  "DicomPort": $((dicom_base + i - 1)),
  "DicomAet": "ISENGARD$i",
  "Isengard": {
    "HttpBind": "127.0.0.1",
    "Blobs": { "Url": "file://$data/blobs" },
    "Cluster": {
      "NodeId": $i,
      "GrpcListen": "$grpc",
      "GrpcAdvertise": "$grpc",
      "Members": { $members }
    }
  }
}
EOF
  "$bin" "$dir/config.json" >>"$dir/log.txt" 2>&1 &
  pids+=($!)
done

# Wait until every node answers.
for i in $(seq 1 "$total"); do
  url="http://127.0.0.1:$((http_base + i - 1))"
  for _ in $(seq 1 300); do
    if curl -fsS "$url/system" >/dev/null 2>&1; then break; fi
    if ! kill -0 "${pids[$((i - 1))]}" 2>/dev/null; then
      echo "node $i exited; see $data/node-$i/log.txt" >&2
      exit 1
    fi
    sleep 0.1
  done
done

# Wait until the members elected a leader.
for _ in $(seq 1 300); do
  if curl -fsS "http://127.0.0.1:$http_base/cluster" 2>/dev/null | grep -Eq '"Leader": ?[0-9]'; then break; fi
  sleep 0.1
done

echo
echo "Isengard cluster of $n nodes (data and logs in $data):"
for i in $(seq 1 "$total"); do
  role="member"
  [ "$i" -gt "$n" ] && role="spare, add it with: $bin cluster add $i 127.0.0.1:$((grpc_base + i - 1)) --url http://127.0.0.1:$http_base"
  echo "  node $i  REST http://127.0.0.1:$((http_base + i - 1))  DICOM ISENGARD$i@127.0.0.1:$((dicom_base + i - 1))  ($role)"
done
echo
"$bin" cluster status --url "http://127.0.0.1:$http_base" || true
echo
echo "Ctrl-C stops every node."
wait
