"""Plugins: modules that register search spaces, proxies, methods or cost columns, loaded by every entry point.

A plugin is any importable module whose import calls the registries' `register_*` functions
(docs/EXTENDING.md). The modules named in the environment variable HWEVRSNAS_PLUGINS (comma-separated)
and those an installed package declares as entry points of the group `hwevrsnas.plugins` are imported
by the `hwevrsnas` command and by the workflow; the workflow's config key `plugins` sets the variable
for every job it starts, so a leaf sees the same registries as the Snakefile that planned it.
"""

from __future__ import annotations

import functools
import importlib
import os
from importlib import metadata

from hwevrsnas.errors import InputError

ENV = "HWEVRSNAS_PLUGINS"
ENTRY_POINTS = "hwevrsnas.plugins"


def named(extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The plugin modules to load: HWEVRSNAS_PLUGINS's, then `extra`, duplicates dropped."""
    listed = [name.strip() for name in os.environ.get(ENV, "").split(",") if name.strip()]
    return list(dict.fromkeys([*listed, *extra]))


def load_plugins(extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Import every plugin (environment, `extra`, entry points); return the module names imported."""
    loaded = []
    for name in named(extra):
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise InputError(f"plugin {name!r} (from {ENV} or the config's `plugins`) cannot be imported: {err}") from err
        loaded.append(name)
    for entry in _entry_points():
        entry.load()
        loaded.append(entry.value)
    return loaded


@functools.cache
def _entry_points() -> metadata.EntryPoints:
    # Looked up once per process: it reads every installed package's metadata, which is slow next to a served
    # search, and a process may run many (the workflow's warm workers).
    return metadata.entry_points(group=ENTRY_POINTS)


def use_plugins(extra: list[str] | tuple[str, ...]) -> list[str]:
    """Load the plugins and export them in HWEVRSNAS_PLUGINS, so that child processes load them too."""
    loaded = load_plugins(extra)
    if named(extra):
        os.environ[ENV] = ",".join(named(extra))
    return loaded


__all__ = ["ENTRY_POINTS", "ENV", "load_plugins", "named", "use_plugins"]
