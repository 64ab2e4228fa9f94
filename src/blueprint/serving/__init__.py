"""`blueprint serve`: a trained checkpoint behind an HTTP endpoint, through LitServe (batching, workers, /health).

Nothing is imported here: the main process (command.py) imports neither torch nor Lightning; the inference worker
and the checkpoint check do (inference.py, checkpoint.py).
"""
