#!/bin/sh
# Fuzz smoke run for ctest (test_fuzz_smoke, added when clang is found): build
# the harnesses with clang into BUILD_DIR, make the seed corpora, run each
# harness for a fixed number of inputs from a fixed libFuzzer seed (RUNS_CONFIG
# and RUNS_RESTART; about 3 s each here), so that a CI run replays the same
# inputs every time. Exit status 0 unless a harness finds a crash, a sanitizer
# report or a leak (or the build fails). Open-ended fuzzing: README "Fuzzing".
set -eu
src=$(cd "$(dirname "$0")" && pwd)
build=$1
runs_config=${2:-60000}
runs_restart=${3:-40}
mkdir -p "$build"
# clang without its sanitizer and libFuzzer runtimes (Debian: libclang-rt-14-dev)
# cannot build the harnesses: skipped (ctest SKIP_RETURN_CODE 77).
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
    >"$build/probe.c"
if ! "${CLANG:-clang}" -fsanitize=fuzzer,address,undefined "$build/probe.c" -o "$build/probe" \
    >"$build/probe.log" 2>&1; then
    echo "skipped: ${CLANG:-clang} cannot link libFuzzer with ASan/UBSan (Debian: apt-get install clang libclang-rt-14-dev)"
    exit 77
fi
cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER="${CLANG:-clang}" -DCMAKE_BUILD_TYPE=Release >"$build.log" 2>&1 ||
    { cat "$build.log"; exit 1; }
cmake --build "$build" -j2 >>"$build.log" 2>&1 || { cat "$build.log"; exit 1; }
rm -rf "$build/corpus"
"$build/fuzz_make_seeds" "$build/corpus"
# libhdf5 leaks on the error paths of damaged files (its own allocations):
# leak detection is off for the restart harness.
for h in config restart; do
    leaks=1 runs=$runs_config
    [ "$h" = restart ] && leaks=0 runs=$runs_restart
    rm -rf "$build/corpus/$h.new"
    mkdir -p "$build/corpus/$h.new"
    ASAN_OPTIONS="detect_leaks=$leaks:${ASAN_OPTIONS:-}" "$build/fuzz_$h" -seed=1 -runs="$runs" -timeout=30 -rss_limit_mb=2048 -detect_leaks=$leaks \
        -artifact_prefix="$build/crash-$h-" "$build/corpus/$h.new" "$build/corpus/$h" \
        >"$build/fuzz_$h.log" 2>&1 || { tail -40 "$build/fuzz_$h.log"; exit 1; }
    grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$build/fuzz_$h.log" | tail -1
done
