"""The one exception users see as a single line: what is wrong, where, and what to do."""


class DoremiError(Exception):
    """Bad input or a broken artifact. `python -m doremi` prints it as one line and exits 2."""
