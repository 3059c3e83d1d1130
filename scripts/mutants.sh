#!/usr/bin/env bash
# Mutation testing of the code that carries the invariants (issue 11): each file is mutated by
# cargo-mutants and checked by the tests that exercise it — its unit tests plus the integration
# tests named below — so one file's run stays well under an hour on two cores.
#
#   cargo install cargo-mutants --locked     # once
#   scripts/mutants.sh                       # every file; or: scripts/mutants.sh src/retry.rs
#
# Results land in mutants.out/<file>/ (outcomes.json, caught.txt, missed.txt, …) and one summary
# line per file on stdout. Not run in CI: it takes hours. docs/reliability.md records the last run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
# Less debug info: every mutant relinks the test binaries, and that is most of its cost.
export CARGO_PROFILE_DEV_DEBUG=0

# file → the cargo test arguments that exercise it.
declare -A TESTS=(
  [src/platforms/values.rs]="--lib --test vendor_samples_ymcart --test vendor_samples_shopsuite --test vendor_samples_guanmai"
  [src/store/outbox.rs]="--lib --test ymcart_push --test operations"
  [src/store/records.rs]="--lib --test ymcart_sync"
  [src/push.rs]="--lib --test ymcart_push --test ymcart_contract --test guanmai"
  [src/ratelimit.rs]="--lib --test ratelimit"
  [src/retry.rs]="--lib --test connect_failures"
  [src/platforms/envelope/scan.rs]="--lib --test properties"
  [src/store/links.rs]="--lib --test links"
  [src/links.rs]="--lib --test links"
)
ORDER=(src/ratelimit.rs src/retry.rs src/store/outbox.rs src/push.rs src/platforms/values.rs src/store/records.rs
  src/platforms/envelope/scan.rs src/store/links.rs src/links.rs)
files=("$@")
[ ${#files[@]} -gt 0 ] || files=("${ORDER[@]}")

for f in "${files[@]}"; do
  args=${TESTS[$f]:?"no test scope for $f (add it to TESTS)"}
  out="mutants.out/$(echo "$f" | tr / _)"
  mkdir -p "$out"
  # The scope goes to every cargo call (-C), so the build step too compiles only these targets.
  scope=()
  for word in $args; do scope+=(-C "$word"); done
  cargo mutants --no-shuffle --timeout 60 --file "$f" --output "$out" "${scope[@]}" >"$out/run.log" 2>&1 || true
  json="$out/mutants.out/outcomes.json"
  if [ -f "$json" ]; then
    python3 - "$f" "$json" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
o = json.load(open(path))
print(f"{name}: caught {o.get('caught', 0)}, missed {o.get('missed', 0)}, unviable {o.get('unviable', 0)}, "
      f"timeout {o.get('timeout', 0)}, total {o.get('total_mutants', 0)}")
PY
  else
    echo "$f: no outcomes (see $out/run.log)"
  fi
done
