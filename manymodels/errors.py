"""The one exception type a user is meant to see: a single line that names the problem."""


class InputError(ValueError):
    """Bad input that stops the whole run (unreadable file, missing column, empty data...)."""
