#!/usr/bin/env bash
# Builds the native uWebSockets bench server (server.cpp) outside the repository:
#   bash benches/echo/native/build.sh UWEBSOCKETS_DIR USOCKETS_DIR OUT
# with checkouts of github.com/uNetworking/uWebSockets and github.com/uNetworking/uSockets
# (neither is committed here). Then:
#   TW_BENCH_UWS_NATIVE=OUT cargo bench --bench echo -- --servers layer,uwsc ...
set -euo pipefail
uws=$(realpath "$1")
usockets=$(realpath "$2")
out=$(realpath -m "$3")
here=$(dirname "$(realpath "$0")")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
cc -O3 -DLIBUS_NO_SSL -I"$usockets/src" -c "$usockets"/src/*.c "$usockets"/src/eventing/*.c
g++ -O3 -std=c++2b -DLIBUS_NO_SSL -DUWS_NO_ZLIB -I"$uws/src" -I"$usockets/src" \
    -o "$out" "$here/server.cpp" ./*.o -lpthread
echo "built $out"
