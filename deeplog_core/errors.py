"""The errors the library raises on purpose: each says what was wrong and what to do.

Everything derives from DeepLogError so the CLI, the handlers and the app can turn
any of them into a message instead of a stack trace.
"""


class DeepLogError(Exception):
    """Base class of every error this library raises deliberately."""


class DataFormatError(DeepLogError, ValueError):
    """An input file or body is not in the format it claims (or any we know)."""


class ModelFileError(DeepLogError):
    """A model directory is missing, incomplete, tampered with or not ours."""


class ConfigError(DeepLogError, ValueError):
    """A hyperparameter or option is out of range."""
