"""What a run hands on: the report (plots, report.md/html), the exports other trainers read, and the
plan that makes a mixture feasible for the real run.

May import: doremi.data, doremi.store, doremi.config.errors. Never a stage or a method: the report's sections
are built by the stages and the methods and handed to it.
"""
