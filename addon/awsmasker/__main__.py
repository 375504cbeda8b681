"""``python -m awsmasker mask|unmask [FILE ...]`` and ``python -m awsmasker watch``: see
:mod:`awsmasker.cli`."""

import sys

from awsmasker.cli import main

sys.exit(main())
