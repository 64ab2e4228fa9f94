"""`python -m blueprint.cli fit ...` runs the same command as `blueprint fit ...` (DDP launchers use it)."""

from blueprint.cli.main import main

main()
