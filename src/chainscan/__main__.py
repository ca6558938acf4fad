"""``python -m chainscan``: the command line."""

from chainscan.cli import main

main()
