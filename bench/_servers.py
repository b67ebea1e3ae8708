"""The servers under test and their processes, and the load generator that drives them.

Apart from ``run.py`` so the other bench scripts (``audio.py``, ``processes.py``) can start the
same servers and load without the side-by-side table, and so ``run.py`` stays one concept: the
plan of cases and rounds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

BENCH = Path(__file__).resolve().parent
NODE_DIR = BENCH / "node"
PYTHON = sys.executable
#: The compiled build's interpreter (``bash scripts/build-compiled`` makes .venv-compiled):
#: the ``jbtrio_flow_compiled`` server runs the flow bench server with it.
COMPILED_PYTHON = BENCH.parent / ".venv-compiled" / "bin" / "python"
#: An optimized CPython build's venv (``jbtrio_flow_optimized``): the ``jbtrio_flow`` server on
#: an interpreter built with profile-guided and link-time optimization, as Debian's and Ubuntu's
#: ``python3.11`` and the official Docker images are (pyenv's default build is neither).
#: :func:`ensure_optimized_venv` makes it from :data:`OPTIMIZED_BASE` on first use.
OPTIMIZED_VENV = BENCH.parent / ".venv-optimized"
OPTIMIZED_PYTHON = OPTIMIZED_VENV / "bin" / "python"
#: The interpreter ``.venv-optimized`` is made from: ``$JBTRIO_BENCH_OPTIMIZED_PYTHON``, else
#: Debian's (``apt-get install python3.11-venv`` on Debian 12).
OPTIMIZED_BASE = Path(os.environ.get("JBTRIO_BENCH_OPTIMIZED_PYTHON", "/usr/bin/python3.11"))
#: The compiled build on that interpreter (``jbtrio_flow_optimized_compiled``), made by
#: ``JBTRIO_COMPILED_VENV=.venv-optimized-compiled JBTRIO_COMPILED_BASE=/usr/bin/python3.11
#: bash scripts/build-compiled``.
OPTIMIZED_COMPILED_PYTHON = BENCH.parent / ".venv-optimized-compiled" / "bin" / "python"
#: The PyPy trial (``jbtrio_flow_pypy``): what ``bash bench/pypy_trial.sh`` makes there (PyPy
#: 3.11, a venv, a patched copy of this checkout, the stand-ins of ``bench/pypy/``).
PYPY_DIR = Path(os.environ.get("JBTRIO_BENCH_PYPY_DIR", "/tmp/jbtrio-pypy"))
PYPY_PYTHON = PYPY_DIR / "venv" / "bin" / "python"
NODE = shutil.which("node") or "node"
NPM = shutil.which("npm") or "npm"

#: Node packages the harness pins (package.json + package-lock.json).
NODE_PACKAGES = {"@jambonz/sdk": "0.10.1", "@jambonz/node-client-ws": "0.2.13", "ws": "8.18.3"}

#: The SDKs (and jbtrio's ``jbtrio`` app) and bare Node ``ws``: the servers of every case.
MAIN = ("jbtrio", "jambonz_sdk", "node_client_ws", "ws_bare")
#: Not SDKs, and not in the TTS case: the same app on the flow API (``jbtrio_flow``,
#: ``jbtrio_server.py --flow``, as users write it: issue 23's targets are on it), the
#: ceilings, jbtrio embedded in a program that leaves CPython's garbage collector at its
#: defaults, jbtrio building a Gather per answer, and jbtrio
#: served by 2 worker processes behind an acceptor (``jbtrio serve --workers 2``), and jbtrio
#: on its other websocket backend (``ServerConfig(transport="trio-websocket")``); and the flow
#: app on the mypyc-compiled build (``jbtrio_flow_compiled``: needs .venv-compiled) and on an
#: optimized CPython build (``jbtrio_flow_optimized``: see :data:`OPTIMIZED_VENV`), both
#: (``jbtrio_flow_optimized_compiled``: :data:`OPTIMIZED_COMPILED_PYTHON`); and the flow app
#: on PyPy (``jbtrio_flow_pypy``: :data:`PYPY_DIR`, only when asked for by name); and the flow
#: app under ``jbtrio serve --workers 2``, pure and compiled (``jbtrio_flow_2proc``,
#: ``jbtrio_flow_2proc_compiled``, also only when named).
EXTRAS = (
    "jbtrio_flow",
    "jbtrio_flow_compiled",
    "jbtrio_flow_optimized",
    "jbtrio_flow_optimized_compiled",
    "jbtrio_transport",
    "tw_bare",
    "jbtrio_embedded",
    "jbtrio_gather_per_hook",
    "jbtrio_2proc",
    "jbtrio_flow_2proc",
    "jbtrio_flow_2proc_compiled",
    "jbtrio_trio_websocket",
    "jbtrio_no_metrics",
    "jbtrio_before",
    "jbtrio_flow_before",
    "jbtrio_flow_pypy",
)
#: The servers of another checkout (``--before DIR``).
BEFORE = ("jbtrio_before", "jbtrio_flow_before")
#: Servers a run has only when ``--servers`` names them (the PyPy trial's: a run of every
#: server need not set PyPy up; the flow app's ``--workers 2``: ``jbtrio_2proc`` is the
#: default run's).
ON_REQUEST = ("jbtrio_flow_pypy", "jbtrio_flow_2proc", "jbtrio_flow_2proc_compiled")
#: The servers of a compiled build, and their interpreters.
COMPILED = {
    "jbtrio_flow_compiled": COMPILED_PYTHON,
    "jbtrio_flow_optimized_compiled": OPTIMIZED_COMPILED_PYTHON,
    "jbtrio_flow_2proc_compiled": COMPILED_PYTHON,
}
#: Every server, in the order a round runs them (the flow apps right after ``jbtrio``).
SERVERS = (MAIN[0], *EXTRAS[:4], *MAIN[1:], *EXTRAS[4:])
#: ``jbtrio_before`` (only with ``--before DIR``) is the ``jbtrio`` bench server of another
#: checkout (``git archive COMMIT | tar -x -C DIR``), ``jbtrio_flow_before`` its
#: ``jbtrio_flow`` one, for before/after ratios in one run: see :func:`server_command`'s
#: ``before``.


# ------------------------------------------------------------------ setup


def ensure_node_modules() -> None:
    """Install the pinned Node packages into bench/node/node_modules when missing."""
    for name, version in NODE_PACKAGES.items():
        manifest = NODE_DIR / "node_modules" / name / "package.json"
        try:
            installed = json.loads(manifest.read_text())["version"]
        except (OSError, ValueError, KeyError):
            installed = None
        if installed != version:
            log(f"installing Node packages in {NODE_DIR} (npm ci)")
            subprocess.run(
                [NPM, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=NODE_DIR,
                check=True,
                timeout=600,
            )
            return


def ensure_optimized_venv() -> str | None:
    """None when ``.venv-optimized`` can run the bench server (made now from
    :data:`OPTIMIZED_BASE` with this checkout's jbtrio, editable, when missing), else why not."""
    if OPTIMIZED_PYTHON.exists():
        return None
    if not OPTIMIZED_BASE.exists():
        return f"no {OPTIMIZED_BASE} (set JBTRIO_BENCH_OPTIMIZED_PYTHON)"
    log(f"making {OPTIMIZED_VENV} from {OPTIMIZED_BASE}")
    made = subprocess.run([str(OPTIMIZED_BASE), "-m", "venv", str(OPTIMIZED_VENV)], check=False)
    if made.returncode == 0:
        pip = [str(OPTIMIZED_PYTHON), "-m", "pip", "install", "--quiet"]
        pip += ["--disable-pip-version-check"]
        made = subprocess.run([*pip, "-e", str(BENCH.parent)], check=False, timeout=600)
    if made.returncode != 0:
        shutil.rmtree(OPTIMIZED_VENV, ignore_errors=True)
        return f"could not make {OPTIMIZED_VENV} from {OPTIMIZED_BASE}"
    return None


def jbtrio_tts_missing() -> str | None:
    """None when ``jbtrio._tts`` imports, else the reason the jbtrio TTS case is skipped."""
    probe = subprocess.run(
        [PYTHON, "-c", "import jbtrio._tts"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode == 0:
        return None
    last = (probe.stderr.strip().splitlines() or ["import failed"])[-1]
    return f"jbtrio._tts is not importable yet ({last})"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ servers


#: ``jbtrio_2proc``: the real CLI, from cwd=bench/ (the acceptor and its 2 workers set the GC
#: up as ``jbtrio serve`` does); ``--grace 1`` so a stop never waits long for calls to finish.
JBTRIO_2PROC = ["-m", "jbtrio", "serve", "jbtrio_server:APP", "--host", "127.0.0.1"]
JBTRIO_2PROC += ["--port", "0", "--workers", "2", "--grace", "1"]
#: The same for the flow app (``jbtrio_flow_2proc``, ``jbtrio_flow_2proc_compiled``).
JBTRIO_FLOW_2PROC = [*JBTRIO_2PROC[:3], "jbtrio_server:FLOW_APP", *JBTRIO_2PROC[4:]]


def server_command(
    name: str, tts: bool, before: Path | None = None
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of server ``name``; ``before`` is the checkout whose
    ``jbtrio`` bench server ``jbtrio_before`` runs (``run.py --before DIR``; without it, this
    checkout's)."""
    env = dict(os.environ)
    if tts:
        env["BENCH_TTS"] = "1"
    script = str(BENCH / "jbtrio_server.py")
    commands = {
        "jbtrio": [PYTHON, script, "0", *(["--tts"] if tts else [])],
        "jbtrio_flow": [PYTHON, script, "0", "--flow"],
        "jbtrio_flow_compiled": [str(COMPILED_PYTHON), script, "0", "--flow", "--expect-compiled"],
        "jbtrio_flow_optimized": [str(OPTIMIZED_PYTHON), script, "0", "--flow"],
        "jbtrio_flow_optimized_compiled": [
            str(OPTIMIZED_COMPILED_PYTHON),
            script,
            "0",
            "--flow",
            "--expect-compiled",
        ],
        "tw_bare": [PYTHON, script, "0", "--bare-tw"],
        "jbtrio_transport": [PYTHON, script, "0", "--bare-transport"],
        "jbtrio_embedded": [PYTHON, script, "0", "--no-gc-tuning"],
        "jbtrio_gather_per_hook": [PYTHON, script, "0", "--gather-per-hook"],
        "jbtrio_2proc": [PYTHON, *JBTRIO_2PROC],
        "jbtrio_flow_2proc": [PYTHON, *JBTRIO_FLOW_2PROC],
        "jbtrio_flow_2proc_compiled": [str(COMPILED_PYTHON), *JBTRIO_FLOW_2PROC],
        "jbtrio_trio_websocket": [PYTHON, script, "0", "--transport", "trio-websocket"],
        "jbtrio_no_metrics": [PYTHON, script, "0", "--no-metrics"],
        "jbtrio_before": [
            PYTHON,
            str((before or BENCH.parent) / "bench" / "jbtrio_server.py"),
            "0",
        ],
        "jbtrio_flow_before": [
            PYTHON,
            str((before or BENCH.parent) / "bench" / "jbtrio_server.py"),
            "0",
            "--flow",
        ],
        "jbtrio_flow_pypy": [
            str(PYPY_PYTHON),
            str(PYPY_DIR / "tree" / "bench" / "jbtrio_server.py"),
            "0",
            "--flow",
        ],
        "jambonz_sdk": [NODE, str(NODE_DIR / "server_sdk.js"), "0"],
        "node_client_ws": [NODE, str(NODE_DIR / "server_ncw.js"), "0"],
        "ws_bare": [NODE, str(NODE_DIR / "server_ws.js"), "0"],
    }
    if name == "jbtrio_flow_pypy":
        env["PYTHONPATH"] = os.pathsep.join([str(PYPY_DIR / "shim"), str(PYPY_DIR / "tree")])
    if name in BEFORE and before is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(before), env.get("PYTHONPATH")]))
    return commands[name], env


@attrs.define
class Running:
    name: str
    process: subprocess.Popen[str]
    port: int


@contextmanager
def running_server(
    name: str, *, tts: bool = False, startup: float = 30.0, before: Path | None = None
) -> Iterator[Running]:
    """Start one server on 127.0.0.1 (port chosen by the OS); stop it on exit."""
    command, env = server_command(name, tts, before)
    process = subprocess.Popen(
        command,
        cwd=BENCH,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        port = _wait_listening(process, startup, compiled=name in COMPILED)
        yield Running(name, process, port)
    finally:
        _stop(process)


#: ``jbtrio serve``'s ready line: ``jbtrio serving MODULE:APP on ws://HOST:PORT ...``.
SERVING = re.compile(r"^jbtrio serving \S+ on ws://\S+?:(\d+)(?:\s|$)")


def _wait_listening(
    process: subprocess.Popen[str], startup: float, *, compiled: bool = False
) -> int:
    """The port from the server's ready line: ``listening PORT`` (the bench servers) or
    ``jbtrio serving ... on ws://HOST:PORT ...`` (``jbtrio serve``, whose line must end in
    ``(compiled build)`` when ``compiled``: the bench servers check that themselves)."""
    assert process.stdout is not None
    deadline = time.monotonic() + startup
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"server exited with {process.wait(5)} before listening")
        if line.startswith("listening "):
            return int(line.split()[1])
        serving = SERVING.match(line)
        if serving:
            if compiled and "(compiled build)" not in line:
                raise RuntimeError(f"not the compiled build: {line.strip()}")
            return int(serving.group(1))
    raise RuntimeError("server did not start listening in time")


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL after 5 s; then kill whatever is left of its process group (a
    multi-process server's workers, which share the group of the session it leads)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            process.wait(5)
    _kill_group(process.pid)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return  # nothing left
    log(f"  killed processes left in the server's process group {pgid}")


# ------------------------------------------------------------------ load


def loadgen(server: Running, case: str, **options: float | int) -> dict[str, Any]:
    """Run one bounded load case against ``server``; the load generator's JSON result."""
    args = [
        NODE,
        str(NODE_DIR / "loadgen.js"),
        "--url",
        f"ws://127.0.0.1:{server.port}/bench",
        "--case",
        case,
        "--server-pid",
        str(server.process.pid),
    ]
    for key, value in options.items():
        args += ["--" + key.replace("_", "-"), str(value)]
    bound = sum(
        float(v) for k, v in options.items() if k in ("warmup", "duration", "setup_timeout")
    )
    result = subprocess.run(args, check=False, capture_output=True, text=True, timeout=bound + 120)
    if result.returncode != 0:
        raise RuntimeError(f"loadgen failed: {result.stderr.strip()[-2000:]}")
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data
