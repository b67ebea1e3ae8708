"""Coverage-guided fuzzing with atheris (libFuzzer for Python), run in a subprocess.

``python -m fuzz._atheris TARGET -max_total_time=N CORPUS_DIR`` fuzzes one harness below;
libFuzzer grows the corpus in ``CORPUS_DIR`` and exits non-zero, with the input saved as
``crash-*``, when a harness raises. The runner (``python -m fuzz``) calls it through the
``decode-cov`` and ``validate-cov`` targets when atheris is installed (``pip install
jbtrio[fuzz]``), seeding a working copy of ``fuzz/corpus/<target>/``.
"""

# ruff: noqa: PLC0415  -- jbtrio is imported inside atheris.instrument_imports() on purpose,
# so that libFuzzer sees its coverage; and atheris is optional.
from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"
WORK = Path(__file__).parent / ".corpus-work"
#: How long libFuzzer may take to stop once interrupted at the end of its budget.
_STOP_GRACE = 10.0


def _decode_harness() -> Callable[[bytes], None]:
    from jbtrio._errors import ProtocolError
    from jbtrio._wire import decode, encode

    def test_one(data: bytes) -> None:
        try:
            message = decode(data)
        except ProtocolError:
            return
        again = decode(encode(message, max_bytes=None))
        if again != message:
            raise AssertionError(f"round trip changed the message: {message!r} -> {again!r}")

    return test_one


def _validate_harness() -> Callable[[bytes], None]:
    import orjson

    from jbtrio._errors import VerbError
    from jbtrio.verbs import JAMBONZ_VERSIONS, validate

    def test_one(data: bytes) -> None:
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        for jambonz in JAMBONZ_VERSIONS:  # 0.9's spec table and 10.x/11.x's JSON Schema
            with contextlib.suppress(VerbError):
                validate(payload, jambonz=jambonz)

    return test_one


HARNESSES: dict[str, tuple[str, Callable[[], Callable[[bytes], None]]]] = {
    "decode-cov": ("decode", _decode_harness),
    "validate-cov": ("validate", _validate_harness),
}


def run_subprocess(name: str, seconds: float) -> tuple[int, str | None]:
    """Fuzz harness ``name`` for ``seconds``; returns (executions, failure or None)."""
    corpus_name, _ = HARNESSES[name]
    work = WORK / name
    work.mkdir(parents=True, exist_ok=True)
    for seed in (CORPUS / corpus_name).glob("*"):
        shutil.copy(seed, work / seed.name)
    with tempfile.TemporaryDirectory() as artifacts:
        # libFuzzer counts -max_total_time from after its start-up (importing and
        # instrumenting jbtrio, replaying the corpus): the budget is enforced here, on the
        # wall clock, by interrupting it (it then stops cleanly and prints its totals).
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fuzz._atheris",
                name,
                f"-max_total_time={max(1, int(seconds))}",
                "-rss_limit_mb=2048",
                f"-artifact_prefix={artifacts}/",
                str(work),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        interrupted = False
        try:
            stdout, stderr = proc.communicate(timeout=max(1.0, seconds))
        except subprocess.TimeoutExpired:
            interrupted = True
            proc.send_signal(signal.SIGINT)
            try:
                stdout, stderr = proc.communicate(timeout=_STOP_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, stderr = proc.communicate()
        output = stdout + stderr
        runs = [int(n) for n in re.findall(r"#(\d+)\s", output)]
        executions = max(runs, default=0)
        crashes = sorted(Path(artifacts).glob("*"))
        if proc.returncode == 0 or (interrupted and not crashes):
            return executions, None
        keep = WORK / f"{name}-findings"
        keep.mkdir(parents=True, exist_ok=True)
        for crash in crashes:
            shutil.copy(crash, keep / crash.name)
        tail = "\n".join(output.strip().splitlines()[-15:])
        return executions, f"atheris exit {proc.returncode} (inputs kept in {keep}):\n{tail}"


def main() -> None:
    """The subprocess side: set up atheris on one harness and fuzz until libFuzzer stops."""
    import atheris

    name = sys.argv[1]
    _, make = HARNESSES[name]
    # Only what the harnesses exercise is instrumented: atheris instruments a whole top-level
    # package, and all of jbtrio (runtime, app, cluster, ...) took a 60 s run's whole share of
    # this target on a loaded machine (0 inputs run). So jbtrio is imported plain first, and
    # the wire model and the verbs are imported again, instrumented, for the harnesses.
    import jbtrio

    for module in [m for m in sys.modules if m.startswith(("jbtrio._wire", "jbtrio.verbs"))]:
        del sys.modules[module]
    with atheris.instrument_imports(include=["jbtrio"]):
        import jbtrio._wire
        import jbtrio.verbs  # noqa: F401
    test_one = make()
    atheris.Setup([sys.argv[0], *sys.argv[2:]], test_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
