"""The `blueprint` command: LightningCLI plus the checks that run before anything is written."""

from blueprint.cli.command import BlueprintCLI, cli_main, main

__all__ = ["BlueprintCLI", "cli_main", "main"]
