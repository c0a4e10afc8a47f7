#!/usr/bin/env bash
# A walk through the local command line: makes a practice, a PCN hub and a charity in a temporary
# folder, publishes a service, refers a person, addresses the referral, shows what each node holds,
# backs up and restores, then cleans up. Nodes sync with each other once `spsync sync` is wired
# to the transport (see README, Status of the work).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --product spsync >/dev/null
bin="$(swift build --show-bin-path)/spsync"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ spsync %s\n' "$*"; "$bin" "$@"; }

say "Each organisation makes its node: key, certificate, node.toml and store"
run init --home "$work/practice" --org A81001 --name "Riverside Surgery" --pcn U12345
run init --home "$work/hub" --org U12345 --name "Riverside PCN"
run init --home "$work/charity" --org GB-CHC-1234567 --name "Leeds Walking Friends"

say "The charity publishes a service with its capacity"
service=$(run service add --home "$work/charity" --name "Walk and Talk" --category physical_activity \
  --maximum 12 --available 5 --area LS1,LS2 --schedule "Tuesdays 10:00" | tail -1)
run service set-capacity --home "$work/charity" "$service" --available 4
run service list --home "$work/charity"

say "The practice refers a person to its PCN hub"
referral=$(run referral create --home "$work/practice" --to U12345 --need loneliness physical_activity \
  --name Pat --phone 07700900123 --consent explicit --nhs-number 9990000018 --urgency soon | tail -1)
run referral list --home "$work/practice"

say "Bad input is refused with a reason, and nothing changes"
run referral create --home "$work/practice" --to U12345 --need debt --nhs-number 9990000019 || true
run service add --home "$work/practice" --name "Not ours" --category befriending || true
run referral create --home "$work/practice" --to U12345 --need debt --dob 2026-02-30 || true
run referral update --home "$work/practice" "$referral" --status reopened || true

say "The referral is addressed to the charity's service (not synced here yet: --force), then withdrawn and reopened"
run referral update --home "$work/practice" "$referral" --service "$service" --force
run referral update --home "$work/practice" "$referral" --status withdrawn --reason "moved away"
run referral update --home "$work/practice" "$referral" --status reopened
run referral show --home "$work/practice" "$referral"

say "Backup, and restore under a new incarnation"
run backup --home "$work/practice" "$work/practice-backup.sqlite"
run restore --home "$work/practice" "$work/practice-backup.sqlite"
run id --home "$work/practice"
say "Done"
