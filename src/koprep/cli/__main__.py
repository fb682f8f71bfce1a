"""`python -m koprep.cli`: the `koprep` command."""

import sys

from koprep.cli import main

sys.exit(main())
