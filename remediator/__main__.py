"""`python -m remediator` is the `remediator` command."""

import sys

from remediator.entry import main

sys.exit(main())
