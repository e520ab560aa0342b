"""`hwevrsnas fetch`: materialise every pinned source (mirror first, else upstream), checking sha256."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from hwevrsnas.paths import DEFAULT_CONFIG, SOURCES_DIR


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("fetch", help="materialise the pinned sources (mirror first, else upstream)")
    p.add_argument("--mirror", help="mirror directory (default: $HWEVRSNAS_MIRROR, else the config's `mirror`)")
    p.add_argument("--config", default=DEFAULT_CONFIG, help="config with a `mirror` key (default: %(default)s)")
    p.add_argument("--dest", default=SOURCES_DIR, help="where sources go (default: %(default)s)")
    p.add_argument("--only", nargs="*", help="mirror paths of the sources to fetch (default: all)")
    p.set_defaults(func=run)


def config_mirror(config: str | None) -> Path | None:
    """The `mirror` key of a YAML config file, if the file and key exist (MissingFile when that folder does not)."""
    from hwevrsnas.tables.sources import existing_mirror

    if not config or not Path(config).is_file():
        return None
    import yaml

    value = (yaml.safe_load(Path(config).read_text()) or {}).get("mirror")
    return existing_mirror(value, f"the key `mirror` of {config}")


def run(args: argparse.Namespace) -> int:
    """Fetch and verify."""
    from hwevrsnas.tables.sources import default_mirror, existing_mirror, fetch

    mirror = existing_mirror(args.mirror, "--mirror") or default_mirror() or config_mirror(args.config)
    start = time.perf_counter()
    paths = fetch(Path(args.dest), mirror, args.only or None)
    print(f"{len(paths)} sources verified under {args.dest} in {time.perf_counter() - start:.1f} s")
    return 0
