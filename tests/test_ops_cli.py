"""The command line as an operator runs it: logging options anywhere, every serve option
from the environment, the password from a file, --version, JSON log lines."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest

from jbtrio import __version__
from jbtrio._cli import _build_parser, main, parse_command_line
from jbtrio._cli_env import apply_environment, env_name, env_options
from jbtrio._cli_logging import JsonFormatter, TextFormatter
from jbtrio._cli_serve import _password


@pytest.mark.parametrize(
    "line",
    [
        ["--log-level", "DEBUG", "serve", "examples.ivr:app"],
        ["serve", "--log-level", "DEBUG", "examples.ivr:app"],
        ["serve", "examples.ivr:app", "--log-level=debug"],
    ],
)
def test_log_level_is_taken_anywhere(line: list[str]) -> None:
    args = parse_command_line([*line, "--log-format", "json"], {})
    assert (args.app, args.log_level, args.log_format) == ("examples.ivr:app", "DEBUG", "json")


def test_serve_logs_at_info_by_default_and_the_environment_sets_it() -> None:
    assert parse_command_line(["serve", "a:b"], {}).log_level == "INFO"
    assert parse_command_line(["call", "ws://x/"], {}).log_level == "WARNING"
    args = parse_command_line(["serve", "a:b"], {"JBTRIO_LOG_FORMAT": "json"})
    assert args.log_format == "json"


def test_every_serve_option_has_its_variable_by_construction() -> None:
    _, subparsers = _build_parser()
    serve = subparsers["serve"]
    serve.add_argument("--some-future-option", help="added later by someone else")
    names = {env_name(action) for action in env_options(serve)}
    assert {"JBTRIO_PORT", "JBTRIO_PASSWORD", "JBTRIO_PASSWORD_FILE", "JBTRIO_APP"} <= names
    assert {"JBTRIO_REDIS", "JBTRIO_ADVERTISE", "JBTRIO_CLUSTER_SECRET_FILE"} <= names  # issue 22
    assert "JBTRIO_SOME_FUTURE_OPTION" in names
    assert "JBTRIO_WORKER" not in names  # hidden: set by the acceptor only
    env = {"JBTRIO_SOME_FUTURE_OPTION": "x", "JBTRIO_REDIS": "redis://r:6379"}
    apply_environment(serve, {**env, "JBTRIO_APP": "m:app"})
    args = serve.parse_args([])
    assert (args.some_future_option, args.redis, args.app) == ("x", "redis://r:6379", "m:app")


def test_environment_is_the_default_and_the_command_line_wins() -> None:
    env = {"JBTRIO_PORT": "3100", "JBTRIO_NO_METRICS": "yes", "JBTRIO_HOST": "0.0.0.0"}
    args = parse_command_line(["serve", "a:b", "--port", "3200"], env)
    assert (args.port, args.no_metrics, args.host) == (3200, True, "0.0.0.0")
    assert parse_command_line(["serve", "a:b"], env).port == 3100


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"JBTRIO_PORT": "three"}, "$JBTRIO_PORT: invalid int value 'three'"),
        ({"JBTRIO_NO_METRICS": "maybe"}, "$JBTRIO_NO_METRICS is a switch"),
        ({"JBTRIO_LOG_LEVEL": "LOUD"}, "$JBTRIO_LOG_LEVEL: --log-level must be one of"),
    ],
)
def test_a_bad_variable_is_one_line_and_exit_2(
    env: dict[str, str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_command_line(["serve", "a:b"], env)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert says in err
    assert err.count("\n") == 1


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"jbtrio {__version__}"


def test_password_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    args = parse_command_line(["serve", "a:b", "--password-file", str(secret)], {})
    _password(args)
    assert args.password == "s3cret"
    # the command line's --password wins over $JBTRIO_PASSWORD_FILE
    env = {"JBTRIO_PASSWORD_FILE": str(secret)}
    args = parse_command_line(["serve", "a:b", "--password", "cli"], env)
    _password(args)
    assert args.password == "cli"
    args = parse_command_line(["serve", "a:b", "--password-file", str(tmp_path / "no")], {})
    with pytest.raises(SystemExit) as exited:
        _password(args)
    assert exited.value.code == 2
    assert "cannot read --password-file" in capsys.readouterr().err


def test_text_lines_are_the_stdlib_formatters() -> None:
    """TextFormatter makes asctime's date once a second (issue 23): every line is still the
    one logging.Formatter makes, within a second, across seconds and back in time."""
    fmt = "%(asctime)s %(levelname)s [worker 1] %(name)s: %(message)s"
    ours, stdlib = TextFormatter(fmt), logging.Formatter(fmt)
    times = [1_700_000_000.0, 1_700_000_000.999, 1_700_000_001.0005, 1_700_000_001.5]
    times += [1_699_999_999.25, 1_700_003_600.0, 86_399.999, 86_400.0]
    for created in times:
        record = logging.LogRecord(
            "jbtrio.call", logging.INFO, __file__, 1, "[%s] hi", ("CA",), None
        )
        record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
        assert ours.format(record) == stdlib.format(record)
    assert not TextFormatter("%(message)s").usesTime()


def test_json_stamps_are_made_per_record_second() -> None:
    formatter = JsonFormatter()
    for created, expected in [
        (1_700_000_000.25, "2023-11-14T22:13:20.250Z"),
        (1_700_000_000.5, "2023-11-14T22:13:20.500Z"),
        (1_700_000_001.0, "2023-11-14T22:13:21.000Z"),
        (0.0, "1970-01-01T00:00:00.000Z"),
    ]:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
        record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
        assert orjson.loads(formatter.format(record))["ts"] == expected


def test_json_lines_carry_call_sid_path_and_event() -> None:
    record = logging.LogRecord("jbtrio.call", logging.INFO, __file__, 1, "[%s] hi", ("CA1",), None)
    record.call_sid, record.path, record.event = "CA1", "/ivr", "call.start"
    line = orjson.loads(JsonFormatter({"worker": 2}).format(record))
    assert line["message"] == "[CA1] hi"
    assert (line["call_sid"], line["path"], line["event"], line["worker"]) == (
        "CA1",
        "/ivr",
        "call.start",
        2,
    )
    assert line["level"] == "INFO"
    assert line["ts"].endswith("Z")
