#!/usr/bin/env bash
# libratusz as a user gets it: `cmake --install` of the libratusz component
# into a temporary prefix, then the example compiled against the installed
# header and library through pkg-config alone; and the shared library's
# interface: SONAME libratusz.so.0 and no exported symbol but ratusz_*.
#
#   client_install.sh BUILD_DIR SOURCE_DIR [SANITIZERS]
#
# In a sanitizer build (SANITIZERS, e.g. address,undefined) the installed
# libraries carry the sanitizer, so the example is built with it too.
set -u
build=${1:?usage: client_install.sh BUILD_DIR SOURCE_DIR [SANITIZERS]}
src=${2:?usage: client_install.sh BUILD_DIR SOURCE_DIR [SANITIZERS]}
san=${3:-}
sanflags=""
[ -n "$san" ] && sanflags="-fsanitize=$san"
tmp=$(mktemp -d /tmp/rz-client-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0
cmake --install "$build" --component libratusz --prefix "$tmp/usr" >/dev/null ||
    { echo "client_install: cmake --install failed"; exit 1; }
libdir=$(dirname "$(find "$tmp/usr" -name ratusz.pc)")/..
[ -f "$tmp/usr/include/ratusz.h" ] ||
    { echo "client_install: include/ratusz.h not installed"; fail=1; }
for f in libratusz.so libratusz.so.0 libratusz.a pkgconfig/ratusz.pc; do
    [ -e "$libdir/$f" ] || { echo "client_install: lib/$f not installed"; fail=1; }
done
export PKG_CONFIG_PATH=$libdir/pkgconfig
if ! cflags=$(pkg-config --cflags ratusz) || ! libs=$(pkg-config --libs ratusz); then
    echo "client_install: pkg-config does not know ratusz"
    exit 1
fi
# The static library's own dependencies, without -lratusz itself.
deps=$(pkg-config --static --libs-only-l ratusz | sed 's/-lratusz//')
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror $sanflags $cflags -o "$tmp/callcenter" \
    "$src/examples/callcenter.c" $libs ||
    { echo "client_install: the example does not build against the install"; exit 1; }
LD_LIBRARY_PATH=$libdir "$tmp/callcenter" >/dev/null 2>&1
[ $? = 2 ] || { echo "client_install: the installed example did not run"; fail=1; }
# The same from the static library (its private dependencies included).
# shellcheck disable=SC2086
cc -std=c11 $sanflags $cflags -o "$tmp/callcenter-static" "$src/examples/callcenter.c" \
    "$libdir/libratusz.a" $deps ||
    { echo "client_install: the example does not link statically"; exit 1; }
"$tmp/callcenter-static" >/dev/null 2>&1
[ $? = 2 ] || { echo "client_install: the static example did not run"; fail=1; }
so=$libdir/libratusz.so.0
soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = libratusz.so.0 ] || { echo "client_install: SONAME is '$soname'"; fail=1; }
others=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' |
    grep -v '^ratusz_' | grep -v '^RATUSZ_0$')
if [ -n "$others" ]; then
    echo "client_install: libratusz.so exports more than ratusz_*:"
    echo "$others" | head -20
    fail=1
fi
n=$(nm -D --defined-only "$so" | grep -c ' T ratusz_')
[ "$n" -ge 50 ] || { echo "client_install: only $n ratusz_ functions exported"; fail=1; }
[ $fail = 0 ] && echo "client_install: installed header, libraries and ratusz.pc work; $n ratusz_* functions exported, nothing else"
exit $fail
