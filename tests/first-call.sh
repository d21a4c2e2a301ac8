#!/bin/sh
# Proves that `make demo` works in one call on a machine whose build
# packages are installed only by that call: pkg-config answers nothing
# until the demo's own `deps` step has run, as on a fresh machine. A
# Makefile that reads its library flags before installing them fails here
# (it did: undefined references at link time), even when CI's machine has
# every package already.
#
#   tests/first-call.sh          run the demo that way (in build-first-call/)
#   tests/first-call.sh --deps   (the demo's deps step: deps.sh, then unlock)
#   tests/first-call.sh --pkg-config ARGS  (pkg-config, locked until then)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-}" in
--deps)
	"$here/tests/deps.sh"
	: > "$ZK_FIRST_CALL_UNLOCKED"
	exit 0 ;;
--pkg-config)
	shift
	[ -e "$ZK_FIRST_CALL_UNLOCKED" ] || exit 1
	exec pkg-config "$@" ;;
esac
cd "$here"
scratch=build-first-call
rm -rf "$scratch"
mkdir "$scratch"
trap 'rm -rf "$scratch"' EXIT
export ZK_FIRST_CALL_UNLOCKED="$here/$scratch/unlocked"
make demo BUILD="$scratch" \
	PKG_CONFIG="$here/tests/first-call.sh --pkg-config" \
	DEPS="$here/tests/first-call.sh --deps"
[ -e "$ZK_FIRST_CALL_UNLOCKED" ] || { echo "first-call: the demo never ran its deps step" >&2; exit 1; }
