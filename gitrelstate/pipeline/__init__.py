"""Pipelines: the stage graph of the recorded runs, what is stale and what ``repro``
runs, in which order, in parallel, and what it restores from the run cache."""
