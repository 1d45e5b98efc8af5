"""The ``dora`` command, from the Python package."""

import os
import shlex
import sys

from ._dora import run_cli


def main() -> None:
    # Python nodes and runtime nodes run with this very interpreter, which
    # has this package.
    os.environ.setdefault("DORA_PYTHON", sys.executable)
    os.environ.setdefault("DORA_RUNTIME", f"{shlex.quote(sys.executable)} -m dora.runtime")
    sys.exit(run_cli(["dora", *sys.argv[1:]]))
