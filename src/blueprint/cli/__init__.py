"""The `blueprint` command: main.py dispatches; command.py is LightningCLI plus the checks before anything is written.

Nothing is imported here, so `blueprint --help` and `blueprint runs` start without Lightning.
"""
