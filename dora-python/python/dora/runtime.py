"""``python -m dora.runtime``: hosts the operators of a runtime node,
Python operators included. ``dora run`` starts it; it is not for people."""

import sys

from ._dora import run_runtime

sys.exit(0 if run_runtime() else 1)
