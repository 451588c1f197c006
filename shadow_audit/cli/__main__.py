"""``python -m shadow_audit.cli``."""

import sys

from shadow_audit.cli import main

sys.exit(main())
