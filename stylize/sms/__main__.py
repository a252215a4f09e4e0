"""``python -m stylize.sms``: see stylize.sms.cli."""

import sys

from stylize.sms.cli import main

sys.exit(main())
