"""`marsad` with bad arguments and broken surroundings: one line on stderr and an exit code of the
README's table, never a traceback (unless asked); `marsad --help` loads no command module."""
from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import services.cli
from services.cli import (EXIT_DENIED, EXIT_FAULT, EXIT_NOT_FOUND, EXIT_UNAVAILABLE, EXIT_USAGE, KNOWN_ERRORS,
                          LAZY_COMMANDS, main)

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("numpy", "scipy", "statsmodels", "plotly", "weasyprint", "sqlmodel", "sqlalchemy", "openpyxl", "pandas",
         "jsonschema", "yaml", "rich", "flask", "minio", "alembic", "psycopg", "jinja2", "pydantic")


# --- lazy loading -------------------------------------------------------------------------


def test_help_imports_no_command_module_and_no_heavy_library():
    probe = ("import json, sys\n"
             "from services.cli import main\n"
             "try:\n    main(['--help'])\n"
             "except SystemExit:\n    pass\n"
             "print(json.dumps(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    help_text, modules = done.stdout.rsplit("\n", 2)[0], json.loads(done.stdout.strip().splitlines()[-1])
    assert [m for m in modules if m.split(".")[0] in HEAVY] == []
    assert [m for m in modules if m.startswith("services.")] == ["services.cli"]
    for name in LAZY_COMMANDS:
        assert f"  {name} " in help_text


def test_the_lazy_table_is_every_modules_commands_with_their_own_help():
    declared = {}
    for info in pkgutil.iter_modules(services.cli.__path__):
        module = importlib.import_module(f"services.cli.{info.name}")
        for command in getattr(module, "COMMANDS", ()):
            attribute = next(k for k, v in vars(module).items() if v is command)
            declared[command.name] = (f"services.cli.{info.name}:{attribute}", command.get_short_help_str(1000))
    table = {name: (target, click.Command(name, help=text).get_short_help_str(1000)) for name, (target, text) in LAZY_COMMANDS.items()}
    assert table == declared


def test_known_error_classes_exist():
    """A renamed error class would silently become an "unexpected fault"."""
    for name in KNOWN_ERRORS:
        module, cls = name.rsplit(".", 1)
        assert isinstance(getattr(importlib.import_module(module), cls), type), name


def _walk(command: click.Command, path: list[str]):
    yield path
    if isinstance(command, click.Group):
        for name in command.list_commands(click.Context(command)):
            yield from _walk(command.get_command(click.Context(command), name), [*path, name])


def test_every_command_and_subcommand_has_help():
    runner = CliRunner()
    paths = list(_walk(main, []))
    assert len(paths) > 60
    for path in paths:
        result = runner.invoke(main, [*path, "--help"], prog_name="marsad", catch_exceptions=False)
        assert result.exit_code == 0, (path, result.output)
        assert result.output.startswith(f"Usage: marsad {' '.join(path)}".rstrip()), path


# --- errors -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli-errors")
    env = {"MARSAD_DATABASE_URL": f"sqlite:///{tmp / 'cli.db'}", "MARSAD_STORAGE": "local",
           "MARSAD_STORAGE_DIR": str(tmp / "objects"), "MARSAD_VAR_DIR": str(tmp / "var")}
    runner = CliRunner(env=env)
    assert runner.invoke(main, ["db", "upgrade"], catch_exceptions=False).exit_code == 0
    good = tmp / "bc.csv"
    result = runner.invoke(main, ["synth", "-d", "border_crossings", "-n", "5", "-y", "2024", "-o", str(good)],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return tmp, env, good


UNREACHABLE_PG = "postgresql+psycopg://marsad:x@127.0.0.1:1/marsad"
CASES = [
    # (arguments, extra environment, exit code, words of the one line)
    (["ingest", "{good}", "-d", "border", "-i", "MI-PAF"], {}, EXIT_NOT_FOUND, "unknown dataset 'border'"),
    (["ingest", "{good}", "-d", "border_crossings", "-i", "NOPE"], {}, EXIT_DENIED, "unknown institution 'NOPE'"),
    (["ingest", "{tmp}/missing.csv", "-d", "border_crossings", "-i", "MI-PAF"], {}, EXIT_USAGE, "does not exist"),
    (["ingest", "/proc/self/mem", "-d", "border_crossings", "-i", "MI-PAF"], {}, EXIT_UNAVAILABLE, "error"),
    (["ingest", "{good}", "-d", "border_crossings", "-i", "MI-PAF", "--replaces", "999"], {}, EXIT_USAGE,
     "submission 999"),
    (["ingest", "{good}", "-d", "border_crossings", "-i", "MI-PAF", "--replaces", str(2**70)], {}, EXIT_USAGE,
     "--replaces"),
    (["ingest", "{good}", "-d", "border_crossings", "-i", "MI-PAF", "--user", "nobody"], {}, EXIT_NOT_FOUND,
     "no local account 'nobody'"),
    (["ingest", "{good}", "-d", "border_crossings", "-i", "MI-PAF", "--report", "/proc/nope/r.csv"], {},
     EXIT_UNAVAILABLE, "/proc/nope/r.csv"),
    (["ingest", "{good}", "-d", "border_crossings", "-i", "MI-PAF"], {"MARSAD_STORAGE": "bogus"}, EXIT_USAGE,
     "MARSAD_STORAGE"),
    (["submissions", "list"], {"MARSAD_DATABASE_URL": "not a url"}, EXIT_USAGE, "MARSAD_DATABASE_URL"),
    (["submissions", "list"], {"MARSAD_DATABASE_URL": UNREACHABLE_PG}, EXIT_UNAVAILABLE, "database: connection"),
    (["audit", "verify"], {"MARSAD_DATABASE_URL": "sqlite:///{tmp}/never-upgraded.db"}, EXIT_UNAVAILABLE,
     "no such table"),
    (["audit", "verify"], {"MARSAD_ENV": "nope"}, EXIT_USAGE, "MARSAD_ENV"),
    (["submissions", "show", "999"], {}, EXIT_NOT_FOUND, "no submission 999"),
    (["submissions", "show", str(2**70)], {}, EXIT_USAGE, "SUBMISSION_ID"),
    (["submissions", "approve", "abc"], {}, EXIT_USAGE, "not a valid integer"),
    (["export", "nope"], {}, EXIT_NOT_FOUND, "no indicator 'nope'"),
    (["export", "border_movements", "--year", "abc"], {}, EXIT_USAGE, "--year"),
    (["export", "border_movements", "--year", "99999"], {}, EXIT_USAGE, "--year"),
    (["export", "border_movements", "--tables", "/proc/self/mem"], {}, EXIT_UNAVAILABLE, "error"),
    (["indicators", "show", "nope"], {}, EXIT_NOT_FOUND, "no indicator 'nope'"),
    (["indicators", "show", "border_movements", "--by", "nope"], {}, EXIT_USAGE, "no dimension 'nope'"),
    (["indicators", "release", "approve", "border_movements", "99"], {}, EXIT_NOT_FOUND, "no version 99"),
    (["catalog", "template", "border"], {}, EXIT_NOT_FOUND, "unknown dataset 'border'"),
    (["synth", "-d", "border", "-n", "5"], {}, EXIT_NOT_FOUND, "unknown dataset 'border'"),
    (["synth", "-d", "border_crossings", "-y", "1800"], {}, EXIT_USAGE, "--year"),
    (["synth", "-n", "5"], {}, EXIT_USAGE, "--dataset"),
    (["report", "--year", "soon"], {}, EXIT_USAGE, "--year"),
    (["tokens", "revoke", "999"], {}, EXIT_NOT_FOUND, "no token 999"),
    (["sandbox", "show", "nope"], {}, EXIT_NOT_FOUND, "no sandbox 'nope'"),
    (["hardware", "check", "nope"], {}, EXIT_NOT_FOUND, "no environment 'nope'"),
    (["policies", "show", "NOPE"], {}, EXIT_NOT_FOUND, "unknown institution 'NOPE'"),
    (["nosuch"], {}, EXIT_USAGE, "No such command 'nosuch'"),
    (["--bogus"], {}, EXIT_USAGE, "No such option '--bogus'"),
]


@pytest.mark.parametrize("args, extra, code, words", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_each_error_is_one_line_and_an_exit_code(setup, args, extra, code, words):
    tmp, env, good = setup
    fill = {"tmp": tmp, "good": good}
    result = CliRunner(env={**env, **{k: v.format(**fill) for k, v in extra.items()}}).invoke(
        main, [a.format(**fill) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and words in lines[0], result.stderr
    assert "Traceback" not in result.output


@pytest.fixture
def boom():
    """A command that fails the way a bug does, on the real group."""
    @click.command("boom")
    def command():
        {}["missing"]

    main.add_command(command)
    yield
    dict.pop(main.commands, "boom")


def test_an_unexpected_fault_is_one_line_naming_its_logged_reference(tmp_path, boom):
    runner = CliRunner(env={"MARSAD_VAR_DIR": str(tmp_path)})
    result = runner.invoke(main, ["boom"], catch_exceptions=False)
    assert result.exit_code == EXIT_FAULT
    [line] = result.stderr.splitlines()
    assert "unexpected fault (KeyError" in line and "Traceback" not in result.output
    reference = line.split("reference ")[1].split(",")[0]
    log = (tmp_path / "log" / "marsad-cli-errors.log").read_text()
    assert f"reference {reference}" in log and "Traceback" in log and "KeyError: 'missing'" in log

    for args, env in ((["--debug", "boom"], {}), (["boom"], {"MARSAD_DEBUG": "1"})):
        result = CliRunner(env={"MARSAD_VAR_DIR": str(tmp_path), **env}).invoke(main, args)
        assert isinstance(result.exception, KeyError)      # raised as it is: Python prints the traceback


def test_the_installed_entry_point_answers_in_one_line(setup):
    """Outside the test runner too: the console script's own standalone mode."""
    tmp, env, good = setup
    for args, code in ((["ingest", str(good), "-d", "border", "-i", "MI-PAF"], EXIT_NOT_FOUND),
                       (["ingest", str(tmp / "missing.csv"), "-d", "border_crossings", "-i", "MI-PAF"], EXIT_USAGE)):
        done = subprocess.run([sys.executable, "-c", "from services.cli import main; main()", *args], cwd=ROOT,
                              capture_output=True, text=True, env={**os.environ, **env, "PYTHONPATH": str(ROOT)})
        assert done.returncode == code, done.stderr
        assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
