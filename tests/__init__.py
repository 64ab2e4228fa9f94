"""The test suite. Imported before conftest.py, so the bytecode setting below applies to torch and Lightning too."""

import os
import sys

# Where PYTHONDONTWRITEBYTECODE is set, every process the tests start (the CLI, servers, DDP workers) would compile
# torch and Lightning again, ~20 s of CPU each. The first test process writes their bytecode once; the rest reuse it.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False
