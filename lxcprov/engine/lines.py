"""Lines of a container's text files, as the programs that read them see lines.

str.splitlines() also ends a line at \\r, \\v, \\f, \\x1c-\\x1e, \\x85, \\u2028 and
\\u2029. glibc, busybox and every /etc parser end a line at \\n only, so a GECOS field
holding \\u2028 is part of its passwd line; split on it and a rewrite would turn one
entry into two. Here a line ends at \\n and nothing else, and everything in between is
kept as it was.
"""

from __future__ import annotations


def split_lines(text: str, *, keepends: bool = False) -> list[str]:
    """text's lines, split at \\n only; like splitlines(), no empty last line for a final \\n."""
    parts = text.split("\n")
    last = parts.pop()  # "" when text ends with \n (or is empty)
    if keepends:
        parts = [part + "\n" for part in parts]
    if last:
        parts.append(last)
    return parts
