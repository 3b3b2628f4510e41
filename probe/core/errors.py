"""The one exception user input raises: the CLI prints it on one line and exits with code 2."""


class ProbeError(Exception):
    """A problem with the user's input: the CLI prints it on one line and exits with code 2.

    The message should name the problem and the fix, e.g.
    ``"unknown construction 'foo': choose from simple, pp, ..."``.
    """


class MissingParser(ProbeError):
    """No spaCy pipeline with a tagger and a parser is installed, so natural text cannot be parsed.

    ``probe run`` skips an ``extra_data`` set that needs one (one "skipped: ..." line) instead of failing.
    """
