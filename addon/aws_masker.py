"""mitmproxy entry script: ``mitmdump -s addon/aws_masker.py``.

mitmproxy puts this file's folder on ``sys.path`` while it runs the script, so the
``awsmasker`` package beside it is importable here. All logic lives in the package.

The entry puts the addon at the end of mitmproxy's addon chain, so that requests are masked
after every rewrite (see :mod:`awsmasker.addon`).
"""

import sys

if sys.version_info < (3, 12):  # noqa: UP036 - a clear message on an old Python
    raise SystemExit(
        "aws-masker needs Python >= 3.12 (mitmproxy 12). "
        f"This is Python {sys.version.split()[0]}; see README 'Install'."
    )

from awsmasker.addon import EntryScript

addons = [EntryScript()]
