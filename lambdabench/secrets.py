"""Secret values: wrapped so they never print, and scrubbed from any text we emit."""

from __future__ import annotations

import codecs
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


class StreamRedactor:
    """redact() for text that arrives in pieces: a secret split across two reads is still scrubbed.

    feed() returns what is safe to emit now; the raw tail that could be the start of a secret (or
    lies inside one) is held back until more text arrives or close() is called. Bytes are decoded
    incrementally, so a UTF-8 character split across reads is not mangled either.
    """

    def __init__(self) -> None:
        self._held = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes | str) -> str:
        text = self._decoder.decode(data) if isinstance(data, bytes) else data
        buf = self._held + text
        cut = _safe_cut(buf)
        self._held = buf[cut:]
        return redact(buf[:cut])

    def close(self) -> str:
        """Everything still held, redacted."""
        tail = self._held + self._decoder.decode(b"", final=True)
        self._held = ""
        return redact(tail)


def _safe_cut(buf: str) -> int:
    """The largest index such that no secret occurrence, whole or possibly continuing, crosses it."""
    with _lock:
        values = list(_known)
    cut = len(buf)
    changed = True
    while changed:
        changed = False
        for value in values:
            # a suffix of buf[:cut] that is a prefix of the secret may continue in the next read
            for k in range(min(len(value) - 1, cut), 0, -1):
                if buf.endswith(value[:k], 0, cut):
                    if cut - k < cut:
                        cut, changed = cut - k, True
                    break
            # a whole occurrence that the cut would split moves the cut to its start
            start = buf.find(value, max(0, cut - len(value) + 1))
            while start != -1 and start < cut:
                if start + len(value) > cut:
                    cut, changed = start, True
                    break
                start = buf.find(value, start + 1)
    return cut
