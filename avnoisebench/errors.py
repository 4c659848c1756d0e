"""The one exception type for problems a user can cause and fix."""


class AvnbError(Exception):
    """Bad input or state, reported to the user as one clear message naming the input and the fix."""
