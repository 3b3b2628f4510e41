"""The ``probe`` command line: ``main`` parses and dispatches; each subcommand is a thin call of a library function."""
from probe.cli.main import main

__all__ = ["main"]
