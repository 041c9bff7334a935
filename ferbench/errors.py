"""Errors that the CLI prints as one line (no traceback)."""


class FerbenchError(Exception):
    """A user-facing error: bad input, unknown name, bad path. Printed as one line."""


class ConfigError(FerbenchError):
    """A protocol spec, option or field is invalid."""


class DataError(FerbenchError):
    """A dataset file or folder is missing or malformed."""
