"""The `marsad` command. Each domain defines its commands in a module beside this one.

This module stays light (click and the standard library): `marsad --help` lists the commands
from the table below, and a command's module, with its database, spreadsheet or statistics
libraries, is imported only when that command runs or shows its own help. Every error ends
as one line on stderr and an exit code of the table below (README, "The `marsad` command").
"""
from __future__ import annotations

import datetime as dt
import importlib
import secrets
import sys
import traceback

import click

# Exit codes scripts can rely on.
EXIT_OK = 0
EXIT_PROBLEMS = 1      # the command ran and found problems (invalid file, broken audit chain...)
EXIT_USAGE = 2         # bad arguments or settings (click's own code for bad arguments)
EXIT_DENIED = 3        # the policy decision refused the action
EXIT_NOT_FOUND = 4     # a named thing does not exist
EXIT_UNAVAILABLE = 5   # a database, object store, server or file could not be reached, read or written
EXIT_FAULT = 6         # an unexpected fault: the line names its reference in the error log

# name -> ("module:attribute", the one-line help `marsad --help` shows without importing it).
# tests/test_cli_errors.py checks that this table and the modules' COMMANDS agree.
LAZY_COMMANDS = {
    "audit": ("services.cli.audit:audit_group", "The audit trail."),
    "catalog": ("services.cli.catalog:catalog", "Datasets partners submit, their codelists and templates."),
    "db": ("services.cli.db:db_group", "Database schema."),
    "demo": ("services.cli.demo:demo_group",
             "The demo on embedded defaults (SQLite and a local object store under var/)."),
    "export": ("services.cli.exports:export", "Export INDICATOR with disclosure control applied."),
    "hardware": ("services.cli.hardware:hardware_group",
                 "Servers and deployment profiles (hardware/): sizing checks and the Ansible inventory."),
    "identity": ("services.cli.identity:identity",
                 "The Keycloak realm: groups, roles, clients and login rules compiled from policies/."),
    "indicators": ("services.cli.indicators:indicators_group",
                   "Indicators computed from accepted submissions, and their releases."),
    "ingest": ("services.cli.ingest:ingest_command",
               "Archive FILE, validate it against DATASET and load it, all or nothing."),
    "policies": ("services.cli.policies:policies",
                 "Partner institutions, roles and data-sharing agreements (policies/*.yaml)."),
    "report": ("services.cli.report:report",
               "Write the statistical yearbook of YEAR: title page, contents, one section per indicator table "
               "(definition, table, chart, sources, notes) and the methodology."),
    "sandbox": ("services.cli.sandbox:sandbox_group",
                "Training sandboxes: isolated Marsad copies with synthetic data, trainee accounts and exercises."),
    "storage": ("services.cli.storage:storage",
                "Object-store buckets and per-institution access keys compiled from policies/."),
    "submissions": ("services.cli.ingest:submissions", "List submissions and move them through the workflow."),
    "synth": ("services.cli.synth:synth",
              "Write realistic, reproducible synthetic files for one dataset or all of them."),
    "tokens": ("services.cli.tokens:tokens_group", "Local API tokens (demo and sandboxes only)."),
}


def _by_code(err) -> int:
    """Workflow and release refusals carry a stable `code`."""
    return {"denied": EXIT_DENIED, "not_found": EXIT_NOT_FOUND}.get(getattr(err, "code", None), EXIT_PROBLEMS)


# Errors a user can act on, by class ("module.Class", matched along the error's class ancestry so
# that a subclass takes its parent's code unless listed itself): exit code, or a function of the error.
# Looked up by name, so that this table imports nothing.
KNOWN_ERRORS = {
    "services.ingest.SubmissionDenied": EXIT_DENIED,
    "services.sandbox.safety.Refused": EXIT_DENIED,
    "services.accounts.LocalAccountsDisabled": EXIT_DENIED,
    "services.workflow.WorkflowError": _by_code,
    "services.indicators.releases.ReleaseError": _by_code,
    "services.sandbox.layout.SandboxNotFound": EXIT_NOT_FOUND,
    "services.storage.ObjectNotFound": EXIT_NOT_FOUND,
    "services.catalog.CatalogError": EXIT_PROBLEMS,      # an invalid catalog (unknown names are checked first)
    "services.policy.PolicyError": EXIT_PROBLEMS,
    "services.sandbox.layout.SandboxError": EXIT_PROBLEMS,
    "services.hardware.HardwareError": EXIT_PROBLEMS,
    "services.lab.LabError": EXIT_PROBLEMS,
    "sqlalchemy.exc.ArgumentError": EXIT_USAGE,           # a MARSAD_DATABASE_URL that does not parse
    "sqlalchemy.exc.OperationalError": EXIT_UNAVAILABLE,  # the database is down, refuses us or lacks a table
    "sqlalchemy.exc.InterfaceError": EXIT_UNAVAILABLE,
    "minio.error.MinioException": EXIT_UNAVAILABLE,       # the object store refuses a request
    "urllib3.exceptions.HTTPError": EXIT_UNAVAILABLE,     # ... or cannot be reached
    "builtins.OSError": EXIT_UNAVAILABLE,                 # a file not readable or writable, a refused connection
    "builtins.ValueError": EXIT_USAGE,                    # a value refused: an argument or a MARSAD_* setting
}


def known_exit_code(err: BaseException) -> int | None:
    """The exit code of an error the user can act on; None for an unexpected fault."""
    for cls in type(err).__mro__:
        code = KNOWN_ERRORS.get(f"{cls.__module__}.{cls.__qualname__}")
        if code is not None:
            return code(err) if callable(code) else code
    return None


def one_line(err: BaseException) -> str:
    """What went wrong, on one line: the database's or the system's own words, without SQL or errno."""
    orig = getattr(err, "orig", None)        # SQLAlchemy wraps the driver's error, and the SQL
    if orig is not None:
        return "database: " + one_line(orig)
    module = type(err).__module__.split(".")[0]
    if module in ("minio", "urllib3"):
        return "object store: " + _first_line(err)
    if module == "sqlalchemy":
        return "database (MARSAD_DATABASE_URL): " + _first_line(err)
    if isinstance(err, OSError) and err.filename and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return _first_line(err)


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


class Failure(click.ClickException):
    """An error shown as one line ("Error: ...") with its exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def _debugging(ctx: click.Context) -> bool:
    from services.config import settings

    if ctx.params.get("debug"):
        return True
    try:
        return settings().debug
    except ValueError:  # the fault being reported may be that very configuration
        return False


def _log_fault(err: BaseException) -> tuple[str, str]:
    """Appends the traceback to the CLI's error log; returns (reference, where)."""
    from services.config import settings

    reference = secrets.token_hex(4)
    entry = (f"--- {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')} reference {reference}\n"
             f"argv: {sys.argv!r}\n" + "".join(traceback.format_exception(err)))
    for folder in (settings().var_dir / "log", None):
        try:
            if folder is None:        # var/ not writable: the system's temporary directory
                import tempfile
                from pathlib import Path
                folder = Path(tempfile.gettempdir())
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "marsad-cli-errors.log"
            with open(path, "a", encoding="utf-8") as log:
                log.write(entry)
            return reference, str(path)
        except OSError:
            continue
    return reference, "nowhere (no writable log folder)"


class LazyCommands(dict):
    """name -> command, importing the command's module the first time the command is asked for."""

    def __init__(self, lazy: dict[str, tuple[str, str]]):
        super().__init__()
        self.lazy = lazy

    def __missing__(self, name):
        if name not in self.lazy:
            raise KeyError(name)
        module, attribute = self.lazy[name][0].split(":")
        self[name] = command = getattr(importlib.import_module(module), attribute)
        return command

    def __contains__(self, name) -> bool:
        return super().__contains__(name) or name in self.lazy

    def get(self, name, default=None):
        return self[name] if name in self else default

    def loaded(self, name) -> bool:
        return super().__contains__(name)


class MarsadGroup(click.Group):
    """Loads a command's module only when that command is used, and turns every error into one line."""

    def __init__(self, *args, lazy: dict[str, tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(lazy)

    def list_commands(self, ctx):
        return sorted({*dict.keys(self.commands), *self.commands.lazy})

    def format_commands(self, ctx, formatter):
        """As click's, with the help of commands not loaded yet taken from the table."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            if not self.commands.loaded(name):
                rows.append((name, click.Command(name, help=self.commands.lazy[name][1]).get_short_help_str(limit)))
            elif not self.commands[name].hidden:
                rows.append((name, self.commands[name].get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as err:          # an unknown option of `marsad` itself
            raise _usage_line(err) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as err:
            raise _usage_line(err) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, BrokenPipeError):
            raise                                 # click's own handling (BrokenPipe: output piped into head)
        except Exception as err:
            if _debugging(ctx):
                raise
            code = known_exit_code(err)
            if code is not None:
                raise Failure(one_line(err), code) from None
            reference, where = _log_fault(err)
            raise Failure(f"unexpected fault ({type(err).__name__}: {one_line(err)}); reference {reference}, "
                          f"traceback in {where} (--debug or MARSAD_DEBUG=1 shows it)", EXIT_FAULT) from None


def _usage_line(err: click.UsageError) -> Failure:
    """Click prints usage, a hint and the error on three lines; one is enough, naming where the help is."""
    where = f" (see '{err.ctx.command_path} --help')" if err.ctx is not None else ""
    return Failure(" ".join(err.format_message().split()).rstrip(".") + where, err.exit_code)


@click.group(cls=MarsadGroup, lazy=LAZY_COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="marsad")
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected fault (also MARSAD_DEBUG=1).")
def main(debug: bool) -> None:
    """Marsad: national migration information system."""


if __name__ == "__main__":
    sys.exit(main())
