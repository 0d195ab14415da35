#!/usr/bin/env sh
# The one command behind the figures of docs/performance.md: the table at every core,
# the sweep (sizes 1e3..1e8 at 1, 2 and all threads), raw JSON kept in
# benchmarks/results/, the Markdown tables and the sweep plot beside it.
# Run it from the repository root on a quiet machine:  sh benchmarks/record.sh
# (RECORD_TAG=name appends -name to the files: a second machine's run of the same day)
set -e
date=$(date -u +%Y-%m-%d)${RECORD_TAG:+-$RECORD_TAG}
out=benchmarks/results
mkdir -p "$out"
python -m gradkit bench --sweep "$@" \
    --json "$out/$date.json" --markdown "$out/$date.md" --plot "$out/$date.png" \
    | tee "$out/$date.txt"
echo "wrote $out/$date.json, $out/$date.md (the tables docs/performance.md shows)," \
     "$out/$date.png and $out/$date.txt" >&2
