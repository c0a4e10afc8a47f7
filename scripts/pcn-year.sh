#!/usr/bin/env bash
# A realistic PCN year in real node homes, then the commissioners' report at its hub.
#
#   scripts/pcn-year.sh [DIR] [REFERRALS]     (defaults: /tmp/spsync-pcn-year, 3000)
#
# Builds spsync and spsync-bench (release), makes a hub (Riverside PCN), three practices and four
# charities with seven services in DIR with `spsync init`, plays a year day by day through the
# domain API and the sync session code (referrals by need, addressing, the charities' progress,
# ONS4 scores, weekly free places, SNOMED CT codes), and runs `spsync report --out DIR/report` at
# the hub. Open DIR/report/report.html in a browser; the CSV files are beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/spsync-pcn-year}
referrals=${2:-3000}
if [ -e "$dir" ]; then
  echo "pcn-year: $dir exists; give another folder or remove it" >&2
  exit 1
fi
swift build -c release --product spsync
swift build -c release --product spsync-bench
bin=$(swift build -c release --show-bin-path)
"$bin/spsync-bench" year --out "$dir" --referrals "$referrals"
"$bin/spsync" report --home "$dir/hub" --out "$dir/report"
echo "open $dir/report/report.html; the hub's home is $dir/hub (spsync report --home $dir/hub …)"
