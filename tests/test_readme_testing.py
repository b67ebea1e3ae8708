"""The README's "Testing your app" file, pasted as a new user would, passes under pytest.

Run in a fresh directory by a separate pytest (no conftest, no configuration: only what
``pip install "jbtrio[testing]"`` brings), with ``examples/ivr.py`` copied beside it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Testing your app"


def readme_test_file() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(SECTION) :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("```\n", start)]


def run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "PYTHONPATH"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_readme_test_file_passes(tmp_path: Path) -> None:
    shutil.copy(ROOT / "examples" / "ivr.py", tmp_path / "ivr.py")
    (tmp_path / "test_ivr.py").write_text(readme_test_file(), encoding="utf-8")
    result = run_pytest(tmp_path, "test_ivr.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_an_async_test_without_trio_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text(
        "async def test_call(fake_jambonz):\n    pass\n", encoding="utf-8"
    )
    result = run_pytest(tmp_path, "-p", "no:trio", "test_plain.py")
    assert result.returncode == 1
    assert (
        "test_call is an async test but not a Trio test: install pytest-trio "
        '(pip install "jbtrio[testing]") and mark the test @pytest.mark.trio'
    ) in result.stdout
