"""``jbtrio serve``: the mistakes of a first hour each get one line that says what to do."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jbtrio._cli import main

APP = "import jbtrio\n\napp = jbtrio.App()\n\n\ndef helper():\n    pass\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory the command runs from; modules written there are forgotten afterwards."""
    monkeypatch.chdir(tmp_path)
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))


def serve(*argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main(["serve", *argv])
    return str(exited.value.code)


def test_a_missing_attribute_names_the_apps_there(project: Path) -> None:
    (project / "shop.py").write_text(APP)
    assert serve("shop:ap") == "jbtrio serve: shop has no attribute 'ap' (its App: app)"
    assert serve("shop:helper") == (
        "jbtrio serve: shop:helper is a function, not a jbtrio.App (its App: app)"
    )
    assert serve("shop") == "jbtrio serve: expected MODULE:APP (e.g. examples.ivr:app), got 'shop'"


def test_a_missing_module_says_where_it_looked(project: Path) -> None:
    assert serve("shopp:app") == (
        f"jbtrio serve: no module named 'shopp' here ({project}): run it from the "
        "directory that holds shopp, or fix MODULE in 'shopp:app'"
    )


def test_a_broken_import_shows_the_users_traceback(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "shop.py").write_text("import jbtrio\nimport not_installed_dep\n")
    assert serve("shop:app") == (
        "jbtrio serve: importing shop failed with ModuleNotFoundError (traceback above): "
        "fix it, then serve again"
    )
    assert capsys.readouterr().err == (
        "Traceback (most recent call last):\n"
        f'  File "{project / "shop.py"}", line 2, in <module>\n'
        "    import not_installed_dep\n"
        "ModuleNotFoundError: No module named 'not_installed_dep'\n"
    )


def test_a_flow_refused_at_import_is_the_users_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "shop.py").write_text(
        "import jbtrio\napp = jbtrio.App()\n\n@app.flow('/x')\nasync def x(call):\n    pass\n"
    )
    assert serve("shop:app").startswith("jbtrio serve: importing shop failed with TypeError")
    assert "x is an async def without yield" in capsys.readouterr().err


def test_a_port_in_use_is_one_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "shop.py").write_text(APP)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "shop:app", "--port", str(port)]) == 1
    assert capsys.readouterr().err == (
        f"jbtrio serve: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(another process listens there: stop it, or pick another --port)\n"
    )


def test_cluster_options_say_what_is_missing(project: Path) -> None:
    (project / "shop.py").write_text(APP)
    assert serve("shop:app", "--advertise", "10.0.0.5:3001") == "--advertise needs --redis"
    assert serve("shop:app", "--redis", "redis://127.0.0.1:6379/0") == (
        "--redis needs --cluster-secret-file PATH (the instances' shared secret)"
    )
    short = project / "short"
    short.write_text("tiny\n")
    redis = ("--redis", "redis://127.0.0.1:6379/0", "--cluster-secret-file")
    assert serve("shop:app", *redis, str(short)) == (
        "jbtrio serve: secret must be at least 16 bytes, got 4"
    )
    secret = project / "secret"
    secret.write_text("a long enough shared secret\n")
    assert serve("shop:app", *redis, str(secret), "--host", "0.0.0.0") == (
        "jbtrio serve: relay_host '0.0.0.0' listens on every interface: set advertise "
        "(--advertise HOST:PORT) to the address other instances reach this one at"
    )
    assert serve("shop:app", "--redis", "http://x", "--cluster-secret-file", str(secret)) == (
        "jbtrio serve: redis_url: expected redis://HOST:PORT/DB, got 'http://x'"
    )
