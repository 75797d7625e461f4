#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/, cargo-fuzz + libFuzzer) and runs each for FUZZ_SECONDS seconds
# (default 60), or only those named in FUZZ_TARGETS. Used by `make fuzz`, and by scripts/test.sh
# with FUZZ_SECONDS=5. Exits non-zero when a target crashes (a panic, a failed invariant, a hang
# of more than 10 s on one input, or 2 GiB of memory); libFuzzer leaves the input in
# fuzz/artifacts/<target>/ (replay: cargo fuzz run --sanitizer none -a <target> <file>).
#
# Stable Rust: `--sanitizer none`. cargo-fuzz's default, AddressSanitizer, needs `-Zsanitizer`,
# which only nightly accepts; every other flag it passes (SanitizerCoverage via -Cpasses and
# -Cllvm-args, --cfg fuzzing, -Cdebug-assertions) is stable. The targets are safe Rust
# (unsafe_code is forbidden in the workspace), so AddressSanitizer would add little; panics,
# overflow checks (-a: debug assertions in the optimized build) and assertions are what fail.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

CARGO_FUZZ_VERSION=0.13.2
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-time_spec filter rest_body rest_query grpc_request context merge_patch}
# Its own target directory (fuzz/target), never the workspace's: the instrumented build shares
# nothing with it.
flags=(--sanitizer none --debug-assertions --target-dir target)

command -v cargo >/dev/null || { echo "fuzz.sh: cargo is required (https://rustup.rs)" >&2; exit 1; }
command -v c++ >/dev/null || { echo "fuzz.sh: a C++ compiler (c++) is required: libfuzzer-sys builds libFuzzer" >&2; exit 1; }
if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
    echo "==> installing cargo-fuzz $CARGO_FUZZ_VERSION (cargo install cargo-fuzz --locked --version $CARGO_FUZZ_VERSION)"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" || {
        echo "fuzz.sh: cargo-fuzz $CARGO_FUZZ_VERSION is missing and could not be installed from crates.io" >&2
        exit 1
    }
fi

echo "==> building the fuzz targets (fuzz/target, --sanitizer none, debug assertions)"
start=$(date +%s)
cargo fuzz build "${flags[@]}"
echo "    built in $(( $(date +%s) - start )) s"

failed=()
summary=()
for target in $targets; do
    echo "==> fuzzing $target for ${seconds}s"
    log=$(mktemp)
    # -timeout: one input running longer is a hang; the corpus dir gets what covers new code.
    status=0
    cargo fuzz run "${flags[@]}" "$target" -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E "^(#[0-9]+.*(INITED|DONE)|==[0-9]+==|thread '|SUMMARY|Test unit|artifact_prefix|Reproduce|stat::average|stat::number)" "$log" \
        | sed 's/^/    /' || true
    if [ "$status" -ne 0 ]; then tail -n 40 "$log" | sed 's/^/    /'; fi
    execs=$(grep -oE "^stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
    rate=$(grep -oE "^stat::average_exec_per_sec: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
    cov=$(grep -E "^#[0-9]+" "$log" | tail -1 | grep -oE "cov: [0-9]+ ft: [0-9]+" || echo "cov: ?")
    if [ "$status" -ne 0 ]; then
        failed+=("$target")
        summary+=("$(printf '%-13s CRASHED (exit %s) %s; input in fuzz/artifacts/%s/' "$target" "$status" "$cov" "$target")")
    else
        summary+=("$(printf '%-13s %10s runs %7s exec/s  %s' "$target" "$execs" "$rate" "$cov")")
    fi
    rm -f "$log"
done

echo "==> fuzz summary (${seconds}s per target)"
printf '    %s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzz.sh: ${failed[*]} crashed; the inputs are in fuzz/artifacts/ (replay: cd fuzz && cargo fuzz run --sanitizer none -a <target> <file>)" >&2
    exit 1
fi
