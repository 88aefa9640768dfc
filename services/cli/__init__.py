"""The `marsad` command. Each domain registers its own group from a module beside this one."""
from __future__ import annotations

import sys

import click

# Exit codes scripts can rely on.
EXIT_OK = 0
EXIT_PROBLEMS = 1      # the command ran and found problems (invalid file, broken audit chain...)
EXIT_USAGE = 2         # click's own code for bad arguments
EXIT_DENIED = 3        # the policy decision refused the action
EXIT_NOT_FOUND = 4     # a named thing does not exist


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="marsad")
def main() -> None:
    """Marsad: national migration information system."""


def _register() -> None:
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for command in getattr(module, "COMMANDS", ()):
            main.add_command(command)


_register()

if __name__ == "__main__":
    sys.exit(main())
