#!/usr/bin/env bash
# Builds the sealinit that goes into images and prints its path on stdout:
# static, against musl (target x86_64-unknown-linux-musl, added with rustup
# when the toolchain lacks it), or against glibc (static too) when that
# target cannot be had. Progress goes to stderr.
#
# Why musl: a static glibc program asks the CPU about its features and
# caches at start-up (some 50 CPUID instructions); in a VM each one traps to
# the hypervisor, about 3.5 us on the benchmark VM, so 0.2 ms before main.
# musl asks nothing. Same code, same tests (.ci/run runs them on both).
#
#   container-tests/build.sh            # the image binary (musl if possible)
#   LIBC=gnu container-tests/build.sh   # the glibc one (not a SEALINIT_*
#                                       # name: sealinit warns about those)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MUSL=x86_64-unknown-linux-musl
libc=${LIBC:-musl}
if [[ $libc == musl ]] && ! rustup target list --installed 2>/dev/null | grep -qx "$MUSL"; then
  echo "build.sh: adding the $MUSL target (rustup)" >&2
  if ! rustup target add "$MUSL" >&2; then
    echo "build.sh: the $MUSL target cannot be added here: building against glibc" >&2
    libc=gnu
  fi
fi
if [[ $libc == musl ]]; then
  cargo build --release --target "$MUSL" >&2
  echo "$PWD/target/$MUSL/release/sealinit"
else
  cargo build --release >&2
  echo "$PWD/target/release/sealinit"
fi
