"""``python -m orbot.cli``: the same as the ``orbot`` command."""

from orbot.cli import main

main()
