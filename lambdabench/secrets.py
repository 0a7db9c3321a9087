"""Secret values: wrapped so they never print, and scrubbed from any text we emit."""

from __future__ import annotations

import threading

REDACTED = "***"
_known: set[str] = set()
_lock = threading.Lock()


class Secret:
    """A string that shows as *** in repr/str/format; call reveal() at the one place it is sent."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register(value)

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


def register(value: str) -> None:
    """Remember a secret value so redact() scrubs it wherever it shows up."""
    if value and len(value) >= 6:
        with _lock:
            _known.add(value)


def redact(text: str) -> str:
    """Replace every registered secret value in text."""
    with _lock:
        values = sorted(_known, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def mask(value: str | None) -> str:
    """A short, safe preview of a secret for `config show`: last 4 characters at most."""
    if not value:
        return "(not set)"
    if len(value) < 12:
        return REDACTED
    return f"{REDACTED}{value[-4:]}"
