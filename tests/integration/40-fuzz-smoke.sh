#!/usr/bin/env bash
# Fuzz smoke: each libFuzzer harness (frames, CloudEvents and filters,
# receipts and batches, the YAML loaders) for a short run on its corpus,
# with ASan and UBSan; any crash, sanitizer report, leak or hang fails.
set -u
cd "$(dirname "$0")/../.." || exit 1
make -s --no-print-directory fuzz-build >/dev/null || { echo "FAIL: fuzz harnesses do not build"; exit 1; }
FUZZ_SMOKE_RUNS=${FUZZ_SMOKE_RUNS:-20000} FUZZ_SMOKE_SECONDS=${FUZZ_SMOKE_SECONDS:-10} \
    tests/fuzz/run-smoke || { echo "FAIL: a fuzz harness found something"; exit 1; }
echo "fuzz smoke OK"
