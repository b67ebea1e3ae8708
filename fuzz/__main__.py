"""Run every fuzz target within a time budget: ``python -m fuzz --seconds 60``.

Targets are the modules ``fuzz/target_*.py``; each exposes ``TARGET`` (a :class:`Target`).
For each selected target the runner first replays its seed corpus (``fuzz/corpus/<name>/``,
checked in: known-tricky inputs and past findings), then runs Hypothesis in batches of fresh
random examples until its share of the budget is spent. The budget is a total, on the wall
clock: each target gets an even share of what is left when it starts (so one that overran
shortens the next ones), examples past a target's share are drawn but not run, and the
coverage-guided targets are interrupted at theirs, start-up included. A failing example is
shrunk, printed, and saved in the Hypothesis example database (``.hypothesis/fuzz``) so the
next run replays it first. A target whose optional engine is missing (``requires``) is
skipped and reported as such. One line per target, then a JSON report, are printed last; the
exit status is 1 when any target found a defect.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import pkgutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import attrs
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis.database import DirectoryBasedExampleDatabase

from fuzz._target import Target

_BATCH = 200
_DB_PATH = Path(".hypothesis") / "fuzz"
CORPUS = Path(__file__).parent / "corpus"


@attrs.define
class Report:
    """What one target did within its share of the budget."""

    name: str
    examples: int = 0
    seconds: float = 0.0
    corpus: int = 0
    failure: str | None = None
    skipped: str | None = None


def missing_requirements(target: Target) -> list[str]:
    """The optional modules ``target`` needs that are not installed."""
    return [name for name in target.requires if importlib.util.find_spec(name) is None]


def replay_corpus(target: Target, report: Report) -> None:
    """Check every seed-corpus file of ``target``; the first failure is the report's."""
    directory = CORPUS / target.name
    if not directory.is_dir():
        return
    for path in sorted(p for p in directory.iterdir() if p.is_file()):
        report.corpus += 1
        try:
            raw: Any = path.read_bytes()
            if path.suffix == ".json":
                raw = orjson.loads(raw)
            target.check(target.load(raw))
        except Exception as exc:  # a finding, on a named, reproducible input
            report.failure = (
                f"corpus {path.name}: " + "".join(traceback.format_exception_only(exc)).strip()
            )
            traceback.print_exc()
            return


def discover() -> list[Target]:
    """Import every ``fuzz.target_*`` module and collect its ``TARGET``."""
    package_dir = Path(__file__).parent
    targets = []
    for info in sorted(pkgutil.iter_modules([str(package_dir)]), key=lambda i: i.name):
        if info.name.startswith("target_"):
            module = importlib.import_module(f"fuzz.{info.name}")
            target = getattr(module, "TARGET", None)
            if isinstance(target, Target):
                targets.append(target)
    return targets


def run_target(target: Target, seconds: float, database: DirectoryBasedExampleDatabase) -> Report:
    """Fuzz one target for ``seconds`` (checked before each example)."""
    report = Report(name=target.name)
    missing = missing_requirements(target)
    if missing:
        report.skipped = f"not installed: {', '.join(missing)}"
        return report
    start = time.monotonic()
    stop_at = start + seconds
    if target.external is not None:
        report.examples, report.failure = target.external(seconds)
        report.seconds = round(time.monotonic() - start, 2)
        if report.examples == 0 and report.failure is None:
            # Said, not hidden: "ok" for a target that ran nothing would be a check that
            # cannot fail (its start-up took its whole share of the budget).
            report.skipped = "no input ran within its share of the budget (start-up took it)"
        return report
    replay_corpus(target, report)
    if report.failure is not None:
        report.seconds = round(time.monotonic() - start, 2)
        return report
    counter = [0]

    def counted(example: Any) -> None:
        if time.monotonic() >= stop_at:
            return  # the share is spent: let the batch run out without checking
        counter[0] += 1
        target.check(example)

    # A per-target database key, so a saved failure is replayed into its own target only.
    counted._hypothesis_internal_add_digest = target.name.encode()  # type: ignore[attr-defined]
    test = settings(
        max_examples=_BATCH,
        deadline=None,
        database=database,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )(given(target.strategy)(counted))
    while time.monotonic() < stop_at:
        try:
            test()
        except Exception as exc:  # a finding: keep the shrunk example and the traceback
            report.failure = "".join(traceback.format_exception_only(exc)).strip()
            traceback.print_exc()
            break
    report.examples = counter[0]
    report.seconds = round(time.monotonic() - start, 2)
    return report


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the selected targets, print a table and a JSON line."""
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="total time budget")
    parser.add_argument("--target", action="append", default=[], help="run only these targets")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    args = parser.parse_args(argv)

    targets = discover()
    if args.list:
        for target in targets:
            print(f"{target.name:16} {target.description}")
        return 0
    if args.target:
        unknown = set(args.target) - {t.name for t in targets}
        if unknown:
            parser.error(f"unknown target(s): {', '.join(sorted(unknown))}")
        targets = [t for t in targets if t.name in args.target]
    if not targets:
        parser.error("no fuzz targets found")

    database = DirectoryBasedExampleDatabase(_DB_PATH)
    deadline = time.monotonic() + args.seconds
    reports = []
    for left, target in zip(range(len(targets), 0, -1), targets, strict=True):
        share = max(0.0, deadline - time.monotonic()) / left
        reports.append(run_target(target, share, database))

    for r in reports:
        status = "FAIL" if r.failure else "skip" if r.skipped else "ok"
        print(
            f"{r.name:16} {status:4} {r.corpus:4d} corpus + {r.examples:8d} examples "
            f"in {r.seconds:7.2f} s"
        )
        if r.failure:
            print(f"    {r.failure}")
        if r.skipped:
            print(f"    {r.skipped}")
    failed = [r.name for r in reports if r.failure]
    print(
        json.dumps(
            {
                "fuzz": [attrs.asdict(r) for r in reports],
                "total_examples": sum(r.examples for r in reports),
                "failed": failed,
            }
        )
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
