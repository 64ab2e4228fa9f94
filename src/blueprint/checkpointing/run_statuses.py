"""What a run folder's status.json says: callbacks/run_status.py writes it, `blueprint runs` reads it (no Lightning)."""

STATUS_FILE = "status.json"
RUNNING, FINISHED, CRASHED, NAN_STOP = "running", "finished", "crashed", "NaN stop"
