"""`python -m blueprint.cli fit ...` runs the same command as `blueprint fit ...` (DDP launchers use it)."""

from blueprint.cli.command import main

main()
