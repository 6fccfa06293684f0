#!/usr/bin/env bash
# Prepares this Linux machine (Debian bookworm) to build the workspace for
# x86_64-pc-windows-gnu and run its tests under Wine. Idempotent; a few
# minutes the first time. Run as root (CI machines are).
#
# - rustup here cannot add targets, but Debian's rustc-web ships a compiler
#   whose library source (rust-web-src) lets cargo build std for any target
#   with -Zbuild-std.
# - mingw-w64 links the .exe files; wine64 runs them.
# - Rust's std on Windows calls ProcessPrng from bcryptprimitives.dll, which
#   Wine 8 lacks: a ten-line DLL that forwards to RtlGenRandom fills the gap
#   (processprng-shim.c, beside this script).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export DEBIAN_FRONTEND=noninteractive
need=()
{ [ -x /usr/bin/rustc ] && /usr/bin/rustc --version | grep -q '^rustc 1\.9[6-9]'; } || need+=(rustc-web rust-web-src)
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64)
[ -x /usr/lib/wine/wine64 ] || need+=(wine64)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  # rustc-web 1.96 comes from the security suite on bookworm.
  apt-get install -y -q -t bookworm-security rustc-web rust-web-src >/dev/null 2>&1 ||
    apt-get install -y -q rustc-web rust-web-src >/dev/null
  apt-get install -y -q gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64 wine64 >/dev/null
fi
export WINEDEBUG=-all
prefix=${WINEPREFIX:-$HOME/.wine}
if [ ! -f "$prefix/drive_c/windows/system32/bcryptprimitives.dll" ]; then
  /usr/lib/wine/wine64 wineboot --init >/dev/null 2>&1 || true
  tmp=$(mktemp -d)
  x86_64-w64-mingw32-gcc -shared -O2 -o "$tmp/bcryptprimitives.dll" "$here/processprng-shim.c" -ladvapi32
  cp "$tmp/bcryptprimitives.dll" "$prefix/drive_c/windows/system32/"
  rm -rf "$tmp"
fi
/usr/bin/rustc --version
