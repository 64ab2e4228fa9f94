"""`blueprint sweep`: an Optuna search whose trials are real `blueprint fit` runs, in a study several workers share.
Needs the `sweep` dependency group (optuna)."""
