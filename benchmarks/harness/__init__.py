"""The benchmark machinery behind `run.py`: documents, timing, subprocesses, report, chart."""
