"""Writing a generated module: formatted as the project's ruff formats it, or checked.

Shared by the generators (``gen_verbs.py``, ``gen_results.py``) so a generated file always
reads as hand-formatted code and ``--check`` means the same thing for each.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ruff_format(text: str, output: Path) -> str:
    """Format ``text`` as the project's ruff would format ``output`` (pyproject.toml settings)."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(output), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return result.stdout


def write_or_check(make: Callable[[], str], output: Path, tool: str, description: str) -> None:
    """The generators' command line: write what ``make()`` returns to ``output``, or with
    ``--check`` exit 1 when the committed file differs from it."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="only compare, do not write")
    args = parser.parse_args()
    text = make()
    if args.check:
        if not output.exists() or output.read_text("utf-8") != text:
            sys.exit(f"{output.relative_to(ROOT)} is out of date: run tools/{tool}")
        return
    output.write_text(text, "utf-8")
    print(f"wrote {output.relative_to(ROOT)} ({text.count(chr(10))} lines)")
