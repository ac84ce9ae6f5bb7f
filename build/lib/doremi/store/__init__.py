"""The run's files and processes: atomic writes and records (done.json, trial.json), stage and trial
locks, model checkpoints, the rank a process runs as and how it speaks (`say`).

May import: doremi.config.errors, doremi.config.version. Never a stage, a method or a model.
"""
