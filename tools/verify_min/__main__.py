"""Entry point: `python tools/verify_min BUNDLE --root FINGERPRINT [--json]` runs this folder as a script,
so its modules import each other by their plain names."""

import sys

from cli import main

sys.exit(main())
