"""The one exception tree of :mod:`matching`."""

from __future__ import annotations

__all__ = ["MatchingError", "ModelFileError", "RecordError", "SettingsError"]


class MatchingError(Exception):
    """Base class of every error :mod:`matching` raises."""


class RecordError(MatchingError, ValueError):
    """A record value breaks a field's rule.

    Attributes:
        field: the field's name.
        value: the offending value.
        rule: what the value should have been.
    """

    def __init__(self, field: str, value: object, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{field}: {value!r} {rule}")


class SettingsError(MatchingError, ValueError):
    """Model settings are invalid; ``problems`` lists every one found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid matching settings:\n  - " + "\n  - ".join(self.problems))


class ModelFileError(MatchingError):
    """A saved model file cannot be read."""
