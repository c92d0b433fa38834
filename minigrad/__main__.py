"""`python -m minigrad` is the `minigrad` command."""

import sys

from .cli import main

sys.exit(main())
