"""jbtrio's build backend: setuptools, plus an opt-in mypyc-compiled wheel (issue 23).

By default this is exactly ``setuptools.build_meta``: ``pip install jbtrio`` / ``pip install
-e .`` build a pure-Python wheel with no compiler and no mypy. ``pip wheel . -C compile=1``
(or ``JBTRIO_COMPILE=1`` in the environment) asks for the compiled build instead: the
modules listed in ``[tool.jbtrio.mypyc] modules`` of pyproject.toml are compiled by mypyc
into C extensions (one group, so one shared library, ``jbtrio/_compiled__mypyc``), their
``.py`` files stay in the wheel beside them. mypy is a build requirement only then
(``get_requires_for_build_wheel``), pinned to the version the build was tested with, and
so are the runtime dependencies: mypyc type-checks the package and needs their types.
Editable installs are always pure (a compiled module would shadow the source being edited).
"""

from __future__ import annotations

import os
import shutil
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from setuptools import build_meta as _setuptools

__all__ = [
    "build_editable",
    "build_sdist",
    "build_wheel",
    "compile_requested",
    "compile_requires",
    "compiled_modules",
    "ext_modules",
    "get_requires_for_build_editable",
    "get_requires_for_build_sdist",
    "get_requires_for_build_wheel",
    "prepare_metadata_for_build_editable",
    "prepare_metadata_for_build_wheel",
    "setup_arguments",
]

ConfigSettings = dict[str, Any] | None

ENV_VAR = "JBTRIO_COMPILE"
"""``JBTRIO_COMPILE=1`` asks for the compiled wheel, like ``-C compile=1``."""
SETTING = "compile"
GROUP = "jbtrio._compiled"
"""mypyc's group name: its shared library is ``jbtrio/_compiled__mypyc.<abi>.so``, inside
the package, so it cannot collide with another mypyc-compiled distribution's library."""
_TRUE = {"1", "true", "yes", "on"}
BUILD_BASE = "build/compiled"
"""setuptools' build directory of the compiled build (the pure build's is build/)."""


def _pyproject() -> dict[str, Any]:
    with Path("pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def compiled_modules(pyproject: dict[str, Any]) -> list[str]:
    """The files mypyc compiles: ``[tool.jbtrio.mypyc] modules``, the only list."""
    modules: list[str] = pyproject["tool"]["jbtrio"]["mypyc"]["modules"]
    return modules


def compile_requested(config_settings: ConfigSettings) -> bool:
    """True when the caller asked for the compiled wheel (config setting or environment)."""
    setting = (config_settings or {}).get(SETTING)
    if setting is not None:
        return str(setting).strip().lower() in _TRUE
    return os.environ.get(ENV_VAR, "").strip().lower() in _TRUE


def _forwarded(config_settings: ConfigSettings) -> ConfigSettings:
    """The settings setuptools sees: without ours (it would pass it on to setup.py)."""
    if not config_settings:
        return config_settings
    return {key: value for key, value in config_settings.items() if key != SETTING}


@contextmanager
def _compiling(compiled: bool) -> Iterator[None]:
    """Tell setup.py (run in this process by setuptools) whether to compile: only
    ``build_wheel`` of a compiled build does; every other hook (requirements, metadata, sdist,
    editable) runs it without extensions, mypy being absent then."""
    previous = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = "1" if compiled else "0"
    try:
        yield
    finally:
        if previous is None:
            del os.environ[ENV_VAR]
        else:
            os.environ[ENV_VAR] = previous


def get_requires_for_build_wheel(config_settings: ConfigSettings = None) -> list[str]:
    """setuptools' requirements; when compiling also pinned mypy and the runtime dependencies
    (mypyc type-checks the modules against their types)."""
    with _compiling(False):
        requires = list(_setuptools.get_requires_for_build_wheel(_forwarded(config_settings)))
    if compile_requested(config_settings):
        requires += compile_requires(_pyproject())
    return requires


def compile_requires(pyproject: dict[str, Any]) -> list[str]:
    """What the compiled build adds: the pinned mypy, and the runtime dependencies (mypyc
    type-checks the modules against their types)."""
    return [
        *pyproject["tool"]["jbtrio"]["mypyc"]["requires"],
        *pyproject["project"]["dependencies"],
    ]


def prepare_metadata_for_build_wheel(
    metadata_directory: str, config_settings: ConfigSettings = None
) -> str:
    """setuptools' metadata (the same for both builds)."""
    with _compiling(False):
        name: str = _setuptools.prepare_metadata_for_build_wheel(
            metadata_directory, _forwarded(config_settings)
        )
    return name


def build_wheel(
    wheel_directory: str,
    config_settings: ConfigSettings = None,
    metadata_directory: str | None = None,
) -> str:
    """The pure wheel, or with ``compile`` the platform wheel with mypyc's extensions."""
    compiled = compile_requested(config_settings)
    _clean(compiled)
    with _compiling(compiled):
        name: str = _setuptools.build_wheel(
            wheel_directory, _forwarded(config_settings), metadata_directory
        )
    return name


def _clean(compiled: bool) -> None:
    """pip builds in the source tree, and setuptools packs whatever an earlier build left in
    its build/lib: empty it, but for the compiled build's extensions of the listed modules
    (in a build directory of its own, BUILD_BASE), which setuptools then does not compile
    again while their C source is unchanged (mypyc rewrites only a changed file)."""
    if not compiled:
        for stale in (*Path("build").glob("lib.*"), *Path("build").glob("bdist.*")):
            shutil.rmtree(stale)
        return
    base = Path(BUILD_BASE)
    for bdist in base.glob("bdist.*"):
        shutil.rmtree(bdist)
    kept = {path.removesuffix(".py") for path in compiled_modules(_pyproject())}
    kept.add(GROUP.replace(".", "/") + "__mypyc")
    for lib in base.glob("lib.*"):
        for path in [p for p in lib.rglob("*") if p.is_file()]:
            relative = path.relative_to(lib)
            if str(relative.parent / relative.name.split(".")[0]) not in kept:
                path.unlink()


def get_requires_for_build_sdist(config_settings: ConfigSettings = None) -> list[str]:
    """setuptools' (an sdist is source: it never compiles)."""
    with _compiling(False):
        return list(_setuptools.get_requires_for_build_sdist(_forwarded(config_settings)))


def build_sdist(sdist_directory: str, config_settings: ConfigSettings = None) -> str:
    """setuptools' sdist, with this backend and setup.py in it (MANIFEST.in)."""
    with _compiling(False):
        name: str = _setuptools.build_sdist(sdist_directory, _forwarded(config_settings))
    return name


def get_requires_for_build_editable(config_settings: ConfigSettings = None) -> list[str]:
    """setuptools': an editable install is pure even when compiling was asked for."""
    with _compiling(False):
        return list(_setuptools.get_requires_for_build_editable(_forwarded(config_settings)))


def prepare_metadata_for_build_editable(
    metadata_directory: str, config_settings: ConfigSettings = None
) -> str:
    """setuptools' metadata."""
    with _compiling(False):
        name: str = _setuptools.prepare_metadata_for_build_editable(
            metadata_directory, _forwarded(config_settings)
        )
    return name


def build_editable(
    wheel_directory: str,
    config_settings: ConfigSettings = None,
    metadata_directory: str | None = None,
) -> str:
    """setuptools' editable wheel, always pure: a compiled module would shadow its source."""
    with _compiling(False):
        name: str = _setuptools.build_editable(
            wheel_directory, _forwarded(config_settings), metadata_directory
        )
    return name


def setup_arguments() -> dict[str, Any]:
    """setup.py's arguments: none for the pure build; for the compiled one mypyc's
    extensions, built in a directory of their own (``_clean``)."""
    if os.environ.get(ENV_VAR, "").strip().lower() not in _TRUE:
        return {}
    return {"ext_modules": ext_modules(), "options": {"build": {"build_base": BUILD_BASE}}}


def ext_modules() -> list[Any]:
    """mypyc's extensions of the listed modules (the compiled build only)."""
    from mypyc.build import mypycify  # noqa: PLC0415 (a build requirement only when compiling)

    modules = compiled_modules(_pyproject())
    print(f"jbtrio: compiling {len(modules)} modules with mypyc", file=sys.stderr)  # noqa: T201
    return list(
        mypycify(
            # mypy reads [tool.mypy] of pyproject.toml; its own cache dir, so a build does
            # not evict the developer's mypy cache (mypyc type-checks with other options).
            # The modules they import are typed but not reported on: the build has only the
            # runtime dependencies, not the extras' (httpx of jbtrio.rest, ...), and CI's
            # mypy --strict checks them all
            ["--cache-dir", f"{BUILD_BASE}/mypy-cache", "--follow-imports=silent", *modules],
            opt_level="3",
            group_name=GROUP,
            target_dir=f"{BUILD_BASE}/mypyc",
        )
    )
