"""Developer entry point of the docs embedder (hwevrsnas.embed; `hwevrsnas evidence embed` is the same):

    python scripts/embed_generated.py            # rewrite README.md and the docs in place
    python scripts/embed_generated.py --check    # exit 1, naming the docs, when one would change
"""

from __future__ import annotations

import sys
from pathlib import Path

from hwevrsnas.cli import main

REPO = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    sys.exit(main(["evidence", "embed", "--root", str(REPO), *sys.argv[1:]]))
