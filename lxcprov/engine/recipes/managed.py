"""Marked sections: the part of a shared file that lxcprov owns.

Like Proxmox, lxcprov keeps its edits to files that also belong to the user (inittab,
/etc/hosts, authorized_keys) between two marker lines. A re-run replaces only what is
between them, so the user's own lines, before or after, survive.
"""

from __future__ import annotations

from lxcprov.engine.lines import split_lines

BEGIN = "BEGIN lxcprov"
END = "END lxcprov"
# Prefix of a line lxcprov switched off (kept, so the user sees it and can switch it back).
DISABLED = "#lxcprov-off# "


def _is_marker(line: str, comment: str, word: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(comment) and stripped[len(comment) :].strip().startswith(word)


def split(text: str, comment: str = "#") -> tuple[list[str], list[str] | None, list[str]]:
    """(lines before the block, lines inside it or None, lines after it)."""
    lines = split_lines(text)
    start = next((i for i, ln in enumerate(lines) if _is_marker(ln, comment, BEGIN)), None)
    if start is None:
        return lines, None, []
    end = next(
        (i for i in range(start + 1, len(lines)) if _is_marker(lines[i], comment, END)),
        len(lines),
    )
    return lines[:start], lines[start + 1 : end], lines[end + 1 :]


def outside(text: str, comment: str = "#") -> list[str]:
    before, _, after = split(text, comment)
    return before + after


def normalise(line: str) -> str:
    return " ".join(line.split())


def with_block(text: str, lines: list[str], comment: str = "#") -> str:
    """text with its lxcprov block holding exactly lines (no block when lines is empty)."""
    before, _, after = split(text, comment)
    block: list[str] = []
    if lines:
        block = [
            f"{comment} {BEGIN}: managed by lxcprov, edits between these markers are replaced",
            *lines,
            f"{comment} {END}",
        ]
    if block and before and before[-1].strip():
        # Keep a blank line between the user's lines and ours, once.
        block.insert(0, "")
    if not block and before and not before[-1].strip():
        before = before[:-1]
    out = before + block + after
    return "\n".join(out) + "\n" if out else ""
