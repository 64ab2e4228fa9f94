"""A SQLite file that MLflow or Optuna would open, checked first: corrupt, locked or read-only is one line, not the
tracebacks SQLAlchemy raises from deep inside those libraries (after a run folder exists)."""

import sqlite3
from pathlib import Path

from blueprint.errors import UserError

WAIT_S = 10.0  # how long another writer may hold the database before it counts as locked


def check_sqlite_file(database: Path, setting: str) -> None:
    """Opens a write transaction and rolls it back; `setting` names the option the user gave, e.g. `--storage ...`."""
    if not database.exists():
        return  # created on first use
    try:
        connection = sqlite3.connect(database, timeout=WAIT_S)
        try:
            connection.execute("BEGIN IMMEDIATE")  # takes the write lock: fails on locked or read-only files
            connection.execute("SELECT count(*) FROM sqlite_master")  # reads the schema: fails on a damaged file
            connection.rollback()
        finally:
            connection.close()
    except sqlite3.Error as err:
        fix = {
            "database is locked": f"another process has held it for over {WAIT_S:g} s; stop it or wait",
            "attempt to write a readonly database": "make the file (and its folder) writable",
            "file is not a database": "move it away (a new one is created) or point to another file",
        }.get(str(err), "move it away or point to another file")
        raise UserError(f"{setting}: SQLite file {database} cannot be used ({err}); {fix}") from None
