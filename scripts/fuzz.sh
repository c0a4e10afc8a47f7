#!/usr/bin/env bash
# Builds the libFuzzer targets (Fuzz/, declared in Package.swift when SPSYNC_FUZZ=1) with the fuzzer
# and address sanitizers, in release, in their own scratch path (.build-fuzz, so the normal .build is
# untouched), and runs each for a given time from its seed corpus (Fuzz/corpus/<target>).
#
#   scripts/fuzz.sh [--seconds N] [--no-build] [--seeds] [target…]
#
# Targets: frame-decoder wire-message field-write-body node-config tls-server (default: all).
# --seconds N  run each target N seconds (default 60); 0 only builds.
# --seeds      remake the seed corpus in Fuzz/corpus/ from what the code produces, then stop.
# --no-build   use the fuzzers already built.
# Inputs a run discovers go to .build-fuzz/corpus/<target>; crashing inputs to Fuzz/crashes/<target>/
# (crash-…, leak-…, timeout-…): feed one back with `.build-fuzz/release/fuzz-<target> FILE`.
# FUZZ_BUILD_LOCK=FILE wraps the build in `flock FILE` (a machine shared with other builds).
# Prints per target: seconds, executions, executions per second, coverage (cov, ft), corpus size,
# crashes; exits 1 if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(frame-decoder wire-message field-write-body node-config tls-server)
seconds=60
build=1
seeds=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --seeds) seeds=1; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *)
      if [[ ! " ${all_targets[*]} " == *" $1 "* ]]; then
        echo "fuzz.sh: unknown target $1 (targets: ${all_targets[*]})" >&2; exit 2
      fi
      targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

scratch=.build-fuzz
bin="$scratch/release"
# `--sanitize fuzzer --sanitize address` would compile Swift with only the last `-sanitize=` (no
# coverage), so both go to swiftc in one flag; SwiftPM's `--sanitize fuzzer` links libFuzzer's main.
if [ "$build" = 1 ]; then
  products=()
  for t in "${targets[@]}"; do products+=(--product "fuzz-$t"); done
  lock=()
  [ -n "${FUZZ_BUILD_LOCK:-}" ] && lock=(flock "$FUZZ_BUILD_LOCK")
  for p in "${products[@]}"; do
    [ "$p" = --product ] && continue
    echo "== build $p"
    SPSYNC_FUZZ=1 "${lock[@]}" swift build -c release --scratch-path "$scratch" \
      --sanitize fuzzer -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=address --product "$p"
  done
fi

if [ "$seeds" = 1 ]; then
  # Seeds the code under test makes (each fuzzer writes its own), plus the example nodes' files and
  # the protocol's frame vectors.
  hex_to_file() { printf '%b' "$(sed 's/../\\x&/g' <<<"$1")" >"$2"; }
  for t in "${targets[@]}"; do
    dir="Fuzz/corpus/$t"
    rm -rf "$dir" && mkdir -p "$dir"
    SWIFT_BACKTRACE=enable=no SPSYNC_FUZZ_SEEDS="$dir" "$bin/fuzz-$t" >/dev/null
    case "$t" in
      node-config)
        for f in Nodes/*/node.toml; do cp "$f" "$dir/example-$(basename "$(dirname "$f")")"; done ;;
      frame-decoder|wire-message)
        grep -o '"hex" : "[0-9a-f]*"' Protocol/vectors/frames.json | cut -d'"' -f4 | while read -r hex; do
          n=$(ls "$dir" | grep -c '^vector-' || true)
          if [ "$t" = frame-decoder ]; then
            hex_to_file "c800$hex" "$dir/vector-$n"         # limit byte 200 (4 MiB), whole
          else
            hex_to_file "${hex:8:2}00${hex:10}" "$dir/vector-$n"   # type, standard limits, payload
          fi
        done ;;
    esac
    echo "$t: $(ls "$dir" | wc -l) seeds in $dir"
  done
  exit 0
fi
[ "$seconds" -gt 0 ] || exit 0

printf '%-17s %8s %11s %9s %6s %6s %7s %8s\n' target seconds execs exec/s cov ft corpus crashes >"$scratch/fuzz-summary.txt"
status=0
for t in "${targets[@]}"; do
  work="$scratch/corpus/$t"
  crashes="Fuzz/crashes/$t"
  log="$scratch/fuzz-$t.log"
  mkdir -p "$work" "$crashes"
  before=$(ls "$crashes" | wc -l)
  echo "== fuzz $t for ${seconds}s (log $log)"
  start=$(date +%s)
  set +e
  # TOMLKit 0.6.0 (a dependency) leaks on every decode (strdup of each string value, the C++ table,
  # the key list); with leak detection libFuzzer would run LeakSanitizer after every input (50 runs a
  # second), so node-config runs without it. Every other target checks for leaks after each input.
  leaks=1
  [ "$t" = node-config ] && leaks=0
  SWIFT_BACKTRACE=enable=no "$bin/fuzz-$t" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 -detect_leaks=$leaks \
    -artifact_prefix="$crashes/" "$work" "Fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  elapsed=$(($(date +%s) - start))
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo "?")
  ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo "?")
  corpus=$(ls "$work" | wc -l)
  found=$(($(ls "$crashes" | wc -l) - before))
  rate=$((execs / (elapsed > 0 ? elapsed : 1)))
  if [ "$rc" != 0 ]; then
    status=1
    echo "   $t stopped (exit $rc); the input and the report:"
    grep -E 'Test unit written to|fuzz invariant violated|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|Fatal error' "$log" | head -5 | sed 's/^/   /'
    [ "$found" -gt 0 ] || found=1
  fi
  printf '%-17s %8s %11s %9s %6s %6s %7s %8s\n' "$t" "$elapsed" "$execs" "$rate" "$cov" "$ft" "$corpus" "$found" \
    | tee -a "$scratch/fuzz-summary.txt"
done
echo
cat "$scratch/fuzz-summary.txt"
exit $status
