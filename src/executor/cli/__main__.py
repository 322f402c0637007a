"""``python -m executor.cli`` (how the CLI starts the daemon in the background)."""

import sys

from executor.cli import main

sys.exit(main())
