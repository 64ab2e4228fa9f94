"""Lightning callbacks that no single task owns."""
