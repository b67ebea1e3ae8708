#!/usr/bin/env bash
# Issue 23's PyPy trial: jbtrio's flow-API bench app on PyPy 3.11, beside CPython.
#
# Debian 12's pypy3 is 7.3.11 (Python 3.9; jbtrio needs 3.11), and PyPI has no PyPy, so
# this takes Debian 13's pypy3 7.3.19 (Python 3.11.11) with the libraries it needs, libc
# included, unpacked into $JBTRIO_BENCH_PYPY_DIR (default /tmp/jbtrio-pypy) and pointed at
# them with patchelf: nothing is installed on the machine but patchelf. Then a venv with
# jbtrio's dependencies but orjson (no PyPy build), and a copy of this checkout (git
# archive HEAD) with bench/pypy/portability.patch applied: what PyPy 7.3.19 cannot run as
# it is (README, Performance, issue 23 round 11). bench/pypy/ stands in for orjson
# (the standard library's json) and tracemalloc on that interpreter's path only.
#
# Then: bench/flow_roundtrip.py on both interpreters (one process, no socket), and on
# sockets, against the Node servers:
#   python bench/run.py --quick --rounds 3 --servers jbtrio_flow,jbtrio_flow_pypy,node_client_ws \
#     --cases hooks,setup,idle --hook-calls 100
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
DIR=${JBTRIO_BENCH_PYPY_DIR:-/tmp/jbtrio-pypy}
CPYTHON=${CPYTHON:-$ROOT/.venv/bin/python}
mkdir -p "$DIR"

if [ ! -x "$DIR/venv/bin/python" ]; then
    # shellcheck source=bench/_debian13.sh
    source "$HERE/_debian13.sh"
    debian13_unpack "$DIR" pypy3.11 pypy3 pypy3-lib libbz2-1.0 libc6 libexpat1 libffi8 \
        libgcc-s1 libgdbm6t64 liblzma5 libncursesw6 libsqlite3-0 libssl3t64 libtinfo6 zlib1g \
        libzstd1
    venv_with_pip "$DIR/root/usr/bin/pypy3.11" "$DIR/venv" "$CPYTHON"
    # jbtrio's dependencies, as pyproject.toml lists them, but orjson
    mapfile -t deps < <("$CPYTHON" -c '
import sys, tomllib
for dep in tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]:
    if not dep.startswith("orjson"):
        print(dep)' "$ROOT/pyproject.toml")
    "$DIR/venv/bin/python" -m pip install -q "${deps[@]}"
fi
"$DIR/venv/bin/python" -c 'import sys; print("PyPy:", sys.version.replace("\n", " "))'

rm -rf "$DIR/tree" && mkdir -p "$DIR/tree"
git -C "$ROOT" archive HEAD | tar -x -C "$DIR/tree"
(cd "$DIR/tree" && git apply "$HERE/pypy/portability.patch")
mkdir -p "$DIR/shim" && cp "$HERE/pypy/orjson.py" "$HERE/pypy/tracemalloc.py" "$DIR/shim/"

echo "flow_roundtrip.py, CPython ($CPYTHON):"
(cd "$DIR" && PYTHONPATH="$DIR/tree" "$CPYTHON" "$DIR/tree/bench/flow_roundtrip.py" "$@" \
    2> /dev/null | tail -1)
echo "flow_roundtrip.py, PyPy (its tracebacks at the end: README, issue 23 round 11):"
(cd "$DIR" && PYTHONPATH="$DIR/shim:$DIR/tree" "$DIR/venv/bin/python" \
    "$DIR/tree/bench/flow_roundtrip.py" "$@" 2> /dev/null | tail -1)
