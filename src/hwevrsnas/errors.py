"""The errors a user can cause and fix: the command line reports these as one line, anything else with its traceback.

Each class also derives from the built-in exception a caller would naturally catch (ValueError for a
bad value, KeyError for an unknown name, FileNotFoundError for a missing file), so library code can
be used without knowing this module.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a file in a bad state: the message says what, where, and how to repair it."""


class InputError(UserError, ValueError):
    """A value the user gave is invalid (the message names the key or option and the valid values)."""


class UnknownName(UserError, KeyError):
    """A name (space, device, preset, method, metric) is not known; the message lists the valid ones."""

    def __str__(self) -> str:
        # KeyError's own str() shows the repr of its argument, quotes and escapes included.
        return str(self.args[0]) if self.args else ""


class MissingFile(UserError, FileNotFoundError):
    """A file the command needs does not exist; the message names the command that creates it."""


class DamagedFile(UserError, ValueError):
    """A file exists but cannot be trusted (unreadable, truncated, checksum mismatch); names the repair command."""

    def __init__(self, path: object, problem: str, repair: str) -> None:
        super().__init__(f"{path}: {problem}; {repair}")
        self.path = path
        self.problem = problem
        self.repair = repair


__all__ = ["DamagedFile", "InputError", "MissingFile", "UnknownName", "UserError"]
