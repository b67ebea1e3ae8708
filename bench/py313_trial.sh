#!/usr/bin/env bash
# Issue 23's CPython 3.13 trial: instructions per flow-API and whole-stack hook round trip on
# Debian 13's python3.13 (3.13.5, built with profile-guided and link-time optimization, as
# Debian 12's python3.11 is), pure and compiled, beside this checkout's 3.11 venvs.
#
# python3.13 and its libraries, libc included, are unpacked into $JBTRIO_BENCH_PY313_DIR
# (default /tmp/jbtrio-py313), not installed (bench/_debian13.sh); .venv-py313 gets this
# checkout's jbtrio (editable) and .venv-py313-compiled the compiled build
# (scripts/build-compiled, with that interpreter's headers). Then callgrind counts, as
# bench/README.md says (minutes each): .venv, .venv-optimized (Debian 12's 3.11, see
# bench/_servers.py), .venv-py313, and the compiled builds of each that exist;
# --setup-only stops before them.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
DIR=${JBTRIO_BENCH_PY313_DIR:-/tmp/jbtrio-py313}
CPYTHON=${CPYTHON:-$ROOT/.venv/bin/python}
PY313="$DIR/root/usr/bin/python3.13"
cd "$ROOT"
mkdir -p "$DIR"
# shellcheck source=bench/_debian13.sh
source "$HERE/_debian13.sh"

if [ ! -x "$PY313" ]; then
    debian13_unpack "$DIR" python3.13 python3.13 python3.13-minimal libpython3.13-minimal \
        libpython3.13-stdlib libpython3.13 python3.13-dev libpython3.13-dev libbz2-1.0 libc6 \
        libexpat1 libffi8 liblzma5 libncursesw6 libreadline8t64 libsqlite3-0 libssl3t64 \
        libtinfo6 libuuid1 zlib1g libzstd1 libdb5.3t64 libgcc-s1
fi
if [ ! -x .venv-py313/bin/python ]; then
    venv_with_pip "$PY313" .venv-py313 "$CPYTHON"
    .venv-py313/bin/python -m pip install -q -e "$ROOT"
fi
if [ ! -x .venv-py313-compiled/bin/python ]; then
    venv_with_pip "$PY313" .venv-py313-compiled "$CPYTHON"
fi
# Debian's pyconfig.h includes its multiarch one from the include root.
CFLAGS="-I$DIR/root/usr/include" JBTRIO_COMPILED_VENV=.venv-py313-compiled \
    JBTRIO_COMPILED_BASE="$PY313" bash scripts/build-compiled > /dev/null
.venv-py313/bin/python -c 'import sys, jbtrio; print("pure:", sys.version, jbtrio.COMPILED)'
.venv-py313-compiled/bin/python -P -c 'import jbtrio; print("compiled:", jbtrio.COMPILED)'
[ "${1:-}" = --setup-only ] && exit 0

# A compiled venv runs its installed jbtrio: its tree (fuzz, examples) on the path, not this
# checkout's jbtrio/ (PYTHONSAFEPATH), as scripts/test runs it.
for venv in .venv .venv-optimized .venv-py313 .venv-compiled .venv-optimized-compiled \
    .venv-py313-compiled; do
    [ -x "$venv/bin/python" ] || continue
    path=bench safe=
    [ -d "$venv/tree" ] && path="$venv/tree:bench" safe=1
    for bench in flow_roundtrip.py stack_roundtrip.py; do
        echo "$venv $bench: $(PYTHONSAFEPATH=$safe PYTHONPATH="$path" "$venv/bin/python" \
            "bench/$bench" --instructions | tail -1)"
    done
done
