#!/usr/bin/env bash
# The fault campaign (issue 10 item 4; on demand, not in CI): builds in release, then
#   1. SIGKILLs the receiving daemon at N points of one sync of R referrals (spsync-faults kill),
#   2. runs the receiving node and a writing CLI out of disk on a tmpfs (spsync-faults disk-full; root),
#   3. runs spsync-sim over S seeds, split across 2 processes.
# Figures go to stdout; record them in docs/reliability.md ("Fault campaign").
# Usage: scripts/fault-campaign.sh [--points N] [--referrals R] [--seeds S] [--work DIR] [--only kill|disk-full|sim]
set -euo pipefail
cd "$(dirname "$0")/.."

points=100 referrals=20000 seeds=10000 work=/tmp/spsync-faults only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --points) points="$2"; shift 2 ;;
    --referrals) referrals="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) echo "usage: $0 [--points N] [--referrals R] [--seeds S] [--work DIR] [--only kill|disk-full|sim]" >&2; exit 64 ;;
  esac
done

# Builds share this machine with others: one at a time, under the common lock.
for product in spsync spsync-faults spsync-sim; do
  flock /tmp/spsync-build.lock swift build -c release --product "$product"
done
bin=$(swift build -c release --show-bin-path)
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' (with local changes)'), $(date -u +%Y-%m-%dT%H:%MZ)"

status=0
if [ -z "$only" ] || [ "$only" = kill ]; then
  start=$SECONDS
  nice -n 5 "$bin/spsync-faults" kill --points "$points" --referrals "$referrals" --work "$work" || status=1
  echo "kill part: $((SECONDS - start)) s"
fi
if [ -z "$only" ] || [ "$only" = disk-full ]; then
  start=$SECONDS
  nice -n 5 "$bin/spsync-faults" disk-full --referrals "$referrals" --work "$work" || status=1
  echo "disk-full part: $((SECONDS - start)) s"
fi
if [ -z "$only" ] || [ "$only" = sim ]; then
  start=$SECONDS
  half=$(( (seeds + 1) / 2 ))
  logs=$(mktemp -d)
  nice -n 5 "$bin/spsync-sim" --seeds "$half" --from 1 >"$logs/a" 2>/dev/null & a=$!
  : >"$logs/b"
  if [ $((seeds - half)) -gt 0 ]; then
    nice -n 5 "$bin/spsync-sim" --seeds $((seeds - half)) --from $((half + 1)) >"$logs/b" 2>/dev/null & b=$!
  fi
  wait $a || status=1
  if [ -n "${b:-}" ]; then wait "$b" || status=1; fi
  cat "$logs/a" "$logs/b" | grep -E 'FAILED|^ran '
  failed=$(cat "$logs/a" "$logs/b" | grep -c 'FAILED' || true)
  echo "simulator: $seeds seeds in 2 processes, $failed failed, $((SECONDS - start)) s"
  rm -rf "$logs"
fi
exit $status
