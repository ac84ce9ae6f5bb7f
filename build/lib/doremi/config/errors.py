"""The one exception users see as a single line: what is wrong, where, and what to do."""


class DoremiError(Exception):
    """Bad input or a broken artifact. `python -m doremi` prints it as one line and exits 2."""


def first_line(err: BaseException) -> str:
    """The first line of another library's error message (its type's name when the message is empty)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
