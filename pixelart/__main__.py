"""``python -m pixelart``: see pixelart.cli."""

import sys

from pixelart.cli import main

sys.exit(main())
