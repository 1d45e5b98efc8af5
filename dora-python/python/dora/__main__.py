"""``python -m dora`` is the ``dora`` command."""

from ._cli import main

main()
