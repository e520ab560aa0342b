"""`python -m hwevrsnas.cli`: the `hwevrsnas` command."""

import sys

from hwevrsnas.cli import main

sys.exit(main())
