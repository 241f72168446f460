"""One error type for user mistakes.

Anything a user can fix (a model that is not there, a layer out of range, a concept that tokenises to
nothing, an unwritable folder, a judge that is down) raises :class:`UserError` with a message that names
the problem *and* the fix. The CLI turns it into one line on stderr and exit code 2. Every other
exception is a bug and is allowed to show its traceback.
"""


class UserError(Exception):
    """A problem the user can fix; ``str(err)`` is the one line shown to them."""
