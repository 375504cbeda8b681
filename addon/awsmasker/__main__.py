"""``python -m awsmasker mask|unmask [FILE ...]``: see :mod:`awsmasker.cli`."""

import sys

from awsmasker.cli import main

sys.exit(main())
