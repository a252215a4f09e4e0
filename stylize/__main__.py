"""``python -m stylize``: see stylize.cli."""

import sys

from stylize.cli import main

sys.exit(main())
