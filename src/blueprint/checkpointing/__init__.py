"""Checkpoints and run folders: written atomically, read safely, found again by `--ckpt_path last`."""
