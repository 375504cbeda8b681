"""mitmproxy entry script: ``mitmdump -s addon/aws_masker.py``.

mitmproxy puts this file's folder on ``sys.path`` while it runs the script, so the
``awsmasker`` package beside it is importable here. All logic lives in the package.

The addon's handlers and commands are set on this module itself rather than listed in
``addons``: for every event (about 16 per proxied request) mitmproxy walks the script's addon
tree looking for a handler, and a module without ``addons`` is one level less to walk.
"""

import sys

if sys.version_info < (3, 12):  # noqa: UP036 - a clear message on an old Python
    raise SystemExit(
        "aws-masker needs Python >= 3.12 (mitmproxy 12). "
        f"This is Python {sys.version.split()[0]}; see README 'Install'."
    )

from awsmasker.addon import make_addon

globals().update(make_addon().members())
