"""``python -m orbot`` is the ``orbot`` command."""

from orbot.cli import main

main()
