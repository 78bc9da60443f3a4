"""Errors that are the user's to fix: the job prints their one-line message, no stack trace."""


class UserError(Exception):
    """Bad input, config or arguments; str(error) is the whole message."""


class RunAborted(Exception):
    """A `fail` rule fired or an invariant broke; nothing was published."""
