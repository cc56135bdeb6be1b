"""``python -m dnne_robot``: the same as the ``dnne-robot`` command."""

from .cli.app import main

main()
