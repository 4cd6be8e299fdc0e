"""Text from files (layer, node, output and label names) shown safely on a terminal.

A model file can hold any string as a name, including terminal escape sequences that clear the screen
or print a fake "all checks passed". :func:`shown` escapes every control character (C0, DEL, C1) and the
Unicode direction overrides as ``\\x1b`` / ``\\u202e``; :func:`escape_controls` does the same for whole
messages but keeps their line breaks. JSON output needs neither: ``json.dumps`` escapes them itself.
"""
from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match) -> str:
    ch = match.group(0)
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(name: object) -> str:
    """``name`` with every control character escaped (a name never spans lines on screen)."""
    return _CONTROL.sub(_escape, str(name))


def escape_controls(text: str, keep: str = "\n\t") -> str:
    """``text`` with control characters escaped, except those in ``keep`` (line breaks, tabs)."""
    return _CONTROL.sub(lambda m: m.group(0) if m.group(0) in keep else _escape(m), text)


class SafeStream:
    """A text stream that escapes control characters written to it (a CLI's stdout / stderr).

    Line breaks and tabs pass; a carriage return passes only at the start of a write (how progress bars
    redraw their line). ``at_line_start`` tells whether the last text written ended a line.
    """

    def __init__(self, stream) -> None:
        self._stream = stream
        self.at_line_start = True

    def write(self, text: str) -> int:
        if not text:
            return 0
        head = "\r" if text.startswith("\r") else ""
        self._stream.write(head + escape_controls(text[len(head):]))
        self.at_line_start = text.endswith("\n")
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)
