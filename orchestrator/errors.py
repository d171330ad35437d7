"""The one exception type the CLI turns into a one-line message and exit code 2."""


class UserError(Exception):
    """Bad input or a missing service: the message names the problem and the fix.

    Raised anywhere below the CLI; ``orchestrator.cli.main`` prints ``error: <message>``
    to stderr and exits with :data:`EXIT_USAGE`, never with a traceback.
    """


EXIT_OK = 0
EXIT_REJECTED = 1  # a check ran and said no (e.g. `bilevel mechanism check`)
EXIT_USAGE = 2  # bad input, missing service, infrastructure error
