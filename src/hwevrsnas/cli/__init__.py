"""The `hwevrsnas` command: one subcommand per module of this package, each imported when the parser is built.

The subcommand modules import nothing heavy at module level (torch, pandas and the tables are
imported inside the command functions), so `hwevrsnas query ...` starts in about the time numpy
and h5py take to import. Known, user-caused errors (hwevrsnas.errors.UserError) are printed as one
line with exit status 2 (`--debug` shows their traceback too); any other exception is a bug and
keeps its traceback. Output into a pipe whose reader has left (`| head -1`) ends quietly, with status 141.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import signal
import sys
from typing import Any, Sequence

from hwevrsnas.errors import UserError

# Subcommand modules in the order `hwevrsnas --help` lists them.
COMMAND_MODULES = (
    "fetch", "tables", "query", "proxy", "scores", "search", "check", "front", "fidelity", "aggregate", "evidence",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `hwevrsnas` command."""
    parser = argparse.ArgumentParser(
        prog="hwevrsnas", description="Reproducible hardware-aware NAS benchmark suite (HW-EvRSNAS on tabular benchmarks)."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    parser.add_argument("--debug", action="store_true", help="show the traceback of every error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"hwevrsnas.cli.{name}").add_parser(sub)
    return parser


# build_parser's parser and what it was built from: the registries (help texts name their entries) and the
# environment (defaults may read it).
_BUILT: tuple[tuple[Any, ...], argparse.ArgumentParser] | None = None


def _parser() -> argparse.ArgumentParser:
    """The parser, built again only when what it was built from changed: commands run one after another in one
    process parse with one parser."""
    from hwevrsnas.registry import changes

    global _BUILT
    key = (changes(), sorted(os.environ.items()))
    if _BUILT is None or _BUILT[0] != key:
        _BUILT = (key, build_parser())
    return _BUILT[1]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: load plugins, parse arguments, run the command, print user errors as one line (exit status 2)."""
    from hwevrsnas.plugins import load_plugins

    try:
        load_plugins()
    except UserError as err:
        print(f"hwevrsnas: error: {err}", file=sys.stderr)
        return 2
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        status = args.func(args)
        sys.stdout.flush()  # so that a reader gone early (`| head -1`) shows here, not in the interpreter's last flush
        return status
    except UserError as err:
        if args.debug:
            raise
        logging.getLogger("hwevrsnas").debug("user error", exc_info=True)
        print(f"hwevrsnas: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader took what it wanted and left: not an error of ours. Point stdout at /dev/null so that the
        # interpreter's flush at exit does not fail on the same pipe, and exit as a command killed by SIGPIPE does.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
