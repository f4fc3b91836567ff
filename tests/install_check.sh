#!/bin/sh
# install_check.sh BUILD_DIR CMAKE CC PKG_CONFIG - the test test_install:
# `cmake --install BUILD_DIR --prefix TMP` must put bin/nqs, bin/nqs-bench,
# bin/nqs-analyze, the static core library, its headers and nqsvmc.pc in
# place; a small C program that builds a lattice must then compile and link
# against the installed library with the flags of `pkg-config nqsvmc` alone,
# and print what the library computed (6 sites, 6 bonds for a periodic chain
# of 6); TMP/bin/nqs --version must run. Exit status 0 only if all of it works.
set -eu
build=$1 cmake=$2 cc=$3 pkgconfig=$4
prefix=$(mktemp -d "${TMPDIR:-/tmp}/nqs_install_XXXXXX")
trap 'rm -rf "$prefix"' EXIT INT TERM
fail() { echo "test_install: $*" >&2; exit 1; }

"$cmake" --install "$build" --prefix "$prefix" >"$prefix/install.log" 2>&1 ||
    { cat "$prefix/install.log" >&2; fail "cmake --install failed"; }
for p in nqs nqs-bench nqs-analyze; do
    [ -x "$prefix/bin/$p" ] || fail "bin/$p is missing"
done
pc=$(find "$prefix" -name nqsvmc.pc | head -n 1)
[ -n "$pc" ] || fail "nqsvmc.pc is missing"
[ -n "$(find "$prefix" -name libnqs_core.a)" ] || fail "libnqs_core.a is missing"
[ -n "$(find "$prefix" -path '*/include/nqsvmc/lattice.h')" ] || fail "include/nqsvmc/lattice.h is missing"

"$prefix/bin/nqs" --version >"$prefix/version.txt" || fail "bin/nqs --version failed"
grep -q nqs "$prefix/version.txt" || fail "bin/nqs --version printed: $(cat "$prefix/version.txt")"

cat >"$prefix/chain.c" <<'CEOF'
#include <stdio.h>

#include "error.h"
#include "lattice.h"

int main(void)
{
    const int extent[1] = {6}, periodic[1] = {1};
    struct nqs_lattice *lat = nqs_lattice_alloc(NQS_LATTICE_CHAIN, extent, periodic);
    if (!lat) {
        fprintf(stderr, "%s\n", nqs_last_error());
        return 1;
    }
    printf("%d sites, %d bonds\n", lat->n_sites, lat->n_bonds_order[0]);
    nqs_lattice_free(lat);
    return 0;
}
CEOF
export PKG_CONFIG_PATH="$(dirname "$pc")"
flags=$("$pkgconfig" --cflags --libs nqsvmc) || fail "pkg-config nqsvmc failed"
# shellcheck disable=SC2086 # the flags are a list of words
"$cc" -std=c11 -o "$prefix/chain" "$prefix/chain.c" $flags ||
    fail "compiling against the installed library failed (flags: $flags)"
out=$("$prefix/chain") || fail "the linked program failed"
[ "$out" = "6 sites, 6 bonds" ] || fail "the linked program printed '$out'"
echo "test_install: ok ($out; $(cat "$prefix/version.txt"))"
