"""`python -m a3lab ...` (and `torchrun -m a3lab ...`) run the CLI."""

import sys

from a3lab.cli import main

sys.exit(main())
