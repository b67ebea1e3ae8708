"""The optional mypyc-compiled build (README: "The compiled build"): ``jbtrio.COMPILED``
says which build runs, the build backend compiles only when asked, and the compiled leg of
scripts/test really imports the installed, compiled package (not this tree's ``.py`` files,
which pytest's ``pythonpath`` would otherwise put first): ``JBTRIO_EXPECT_COMPILED=1`` makes
that a failure.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import tomllib
from importlib.machinery import ExtensionFileLoader
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import jbtrio

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())


def backend() -> ModuleType:
    """build_backend/jbtrio_build.py, loaded from its file (it is not an installed module)."""
    spec = importlib.util.spec_from_file_location(
        "jbtrio_build", ROOT / "build_backend" / "jbtrio_build.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def is_extension(name: str) -> bool:
    return isinstance(importlib.import_module(name).__loader__, ExtensionFileLoader)


def test_compiled_is_true_exactly_when_the_listed_modules_are_extension_modules() -> None:
    modules = [module_name(path) for path in backend().compiled_modules(PYPROJECT)]
    assert modules
    assert isinstance(jbtrio.COMPILED, bool)
    assert [is_extension(name) for name in modules] == [jbtrio.COMPILED] * len(modules)


def test_this_leg_runs_the_build_it_expects() -> None:
    expected = os.environ.get("JBTRIO_EXPECT_COMPILED")
    if expected is None:
        pytest.skip("JBTRIO_EXPECT_COMPILED is not set (scripts/test sets it in both legs)")
    if expected == "1":
        assert jbtrio.COMPILED, f"the compiled leg imported the pure jbtrio: {jbtrio.__file__}"
        assert not Path(jbtrio.__file__).resolve().is_relative_to(ROOT / "jbtrio")
    else:
        assert not jbtrio.COMPILED


def test_the_module_list_names_existing_typed_modules_of_the_package() -> None:
    paths = backend().compiled_modules(PYPROJECT)
    assert len(set(paths)) == len(paths)
    for path in paths:
        assert path.startswith("jbtrio/")
        assert path.endswith(".py")
        assert (ROOT / path).is_file(), path


def test_only_the_compiled_build_requires_mypy() -> None:
    build = backend()
    requires = build.compile_requires(PYPROJECT)
    assert [r for r in requires if r.startswith("mypy")] == ["mypy==2.4.1"]
    assert set(PYPROJECT["project"]["dependencies"]) <= set(requires)
    assert not any(r.startswith("mypy") for r in PYPROJECT["build-system"]["requires"])


@pytest.mark.parametrize(
    ("settings", "env", "expected"),
    [
        (None, None, False),
        ({}, "0", False),
        ({}, "1", True),
        ({"compile": "1"}, None, True),
        ({"compile": "true"}, None, True),
        ({"compile": "0"}, "1", False),  # the explicit setting wins over the environment
        ({"other": "x"}, None, False),
    ],
)
def test_compiling_is_asked_for_by_the_setting_or_the_environment(
    settings: dict[str, str] | None,
    env: str | None,
    expected: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if env is None:
        monkeypatch.delenv("JBTRIO_COMPILE", raising=False)
    else:
        monkeypatch.setenv("JBTRIO_COMPILE", env)
    assert backend().compile_requested(settings) is expected


def test_the_pure_build_has_no_extensions_and_needs_no_mypyc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JBTRIO_COMPILE", "0")
    monkeypatch.setitem(sys.modules, "mypyc", None)  # importing mypyc would now fail
    assert backend().setup_arguments() == {}
