"""Edit an LXC container config file without losing what people wrote in it.

The file is kept as its lines: comments, blank lines, order, spacing and keys lxcprov
does not manage survive byte for byte. A managed key that is already there is replaced
where it stands; a new one goes into a marked trailing section, so a reader sees at a
glance what lxcprov added. Everything here is pure text in, text out, except `write`.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lxcprov.errors import ContainerConfigError
from lxcprov.system import statefile

BEGIN = "# BEGIN lxcprov settings (managed by `lxcprov set`; edit with it)"
END = "# END lxcprov settings"


@dataclass(frozen=True)
class Line:
    text: str  # the raw line, without its newline
    key: str = ""  # "" for comments, blanks and anything that is not `key = value`
    value: str = ""


def parse_line(text: str) -> Line:
    stripped = text.strip()
    if not stripped or stripped.startswith("#") or "=" not in stripped:
        return Line(text)
    key, _, value = stripped.partition("=")
    value = value.strip()
    # liblxc drops one pair of quotes around a value (templates write uts.name = "c1").
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return Line(text, key.strip(), value)


def parse(text: str) -> list[Line]:
    parts = text.split("\n")
    if parts[-1] == "":
        parts.pop()  # the newline that ends the last line
    return [parse_line(t) for t in parts]


def render(lines: list[Line]) -> str:
    return "".join(line.text + "\n" for line in lines)


def get(lines: list[Line], key: str) -> str | None:
    """The value liblxc would use for a scalar key: the last one written."""
    found = None
    for line in lines:
        if line.key == key:
            found = line.value
    return found


def items(lines: list[Line]) -> list[tuple[str, str]]:
    """Every key = value in file order (the raw keys, for `show`)."""
    return [(line.key, line.value) for line in lines if line.key]


def _section(lines: list[Line]) -> tuple[int, int] | None:
    begin = next((i for i, ln in enumerate(lines) if ln.text.strip() == BEGIN), None)
    if begin is None:
        return None
    end = next((i for i in range(begin + 1, len(lines)) if lines[i].text.strip() == END), None)
    return (begin, end) if end is not None else None


def set_key(lines: list[Line], key: str, value: str | None) -> list[Line]:
    """A copy of lines with key set to value (None removes it).

    The first occurrence is replaced in place and later duplicates are dropped: a scalar
    key written twice is a trap (the last one wins), and we are about to decide its value.
    """
    out: list[Line] = []
    placed = False
    for line in lines:
        if line.key != key:
            out.append(line)
        elif value is not None and not placed:
            if line.value == value:
                out.append(line)  # unchanged: keep the user's spacing
            else:
                indent = line.text[: len(line.text) - len(line.text.lstrip())]
                out.append(Line(f"{indent}{key} = {value}", key, value))
            placed = True
    if value is None or placed:
        return _drop_empty_section(out)
    new = Line(f"{key} = {value}", key, value)
    span = _section(out)
    if span is None:
        if out and out[-1].text.strip():
            out.append(Line(""))
        return [*out, Line(BEGIN), new, Line(END)]
    return [*out[: span[1]], new, *out[span[1] :]]


def _drop_empty_section(lines: list[Line]) -> list[Line]:
    span = _section(lines)
    if span is None or span[1] != span[0] + 1:
        return lines
    begin = span[0]
    # Remove the blank line we put before the section as well.
    if begin > 0 and not lines[begin - 1].text.strip():
        begin -= 1
    return lines[:begin] + lines[span[1] + 1 :]


def set_values(lines: list[Line], key: str, values: list[str]) -> list[Line]:
    """A copy of lines where the multi-valued key (lxc.idmap, lxc.mount.entry) has exactly
    values, in order: the first occurrence's place keeps them, other occurrences go."""
    out: list[Line] = []
    placed = False
    for line in lines:
        if line.key != key:
            out.append(line)
        elif not placed:
            out += [Line(f"{key} = {v}", key, v) for v in values]
            placed = True
    if placed or not values:
        return _drop_empty_section(out)
    new = [Line(f"{key} = {v}", key, v) for v in values]
    span = _section(out)
    if span is None:
        if out and out[-1].text.strip():
            out.append(Line(""))
        return [*out, Line(BEGIN), *new, Line(END)]
    return [*out[: span[1]], *new, *out[span[1] :]]


def section_values(lines: list[Line], key: str) -> list[str]:
    """The values of a multi-valued key inside lxcprov's section (the ones lxcprov owns;
    a template's own lxc.mount.entry lines outside it are never touched)."""
    span = _section(lines)
    if span is None:
        return []
    return [ln.value for ln in lines[span[0] + 1 : span[1]] if ln.key == key]


def set_section_values(lines: list[Line], key: str, wanted: list[str]) -> list[Line]:
    """A copy of lines whose section holds exactly wanted as key's values (in order); the
    key's lines outside the section are left as they are."""
    span = _section(lines)
    kept = lines
    if span is not None:
        inside = [ln for ln in lines[span[0] + 1 : span[1]] if ln.key != key]
        kept = [*lines[: span[0] + 1], *inside, *lines[span[1] :]]
    if not wanted:
        return _drop_empty_section(kept)
    new = [Line(f"{key} = {v}", key, v) for v in wanted]
    span = _section(kept)
    if span is None:
        if kept and kept[-1].text.strip():
            kept = [*kept, Line("")]
        return [*kept, Line(BEGIN), *new, Line(END)]
    return [*kept[: span[1]], *new, *kept[span[1] :]]


def values(lines: list[Line], key: str) -> list[str]:
    """Every value of a multi-valued key, in file order."""
    return [line.value for line in lines if line.key == key]


def update(
    text: str, changes: dict[str, str | None], *, section: frozenset[str] = frozenset()
) -> str:
    """text with every key in changes set (or removed, for None). A key in section is
    one line of lxcprov's section (removed: that line only); its lines elsewhere stay."""
    lines = parse(text)
    for key, value in changes.items():
        if key in section:
            lines = set_section_values(lines, key, [] if value is None else [value])
        else:
            lines = set_key(lines, key, value)
    return render(_net_types_first(lines))


_NET_KEY = re.compile(r"lxc\.net\.(\d+)\.")


def _net_types_first(lines: list[Line]) -> list[Line]:
    """lines with each interface's lxc.net.N.type before its other lxc.net.N keys.

    LXC refuses a config where a key of an interface comes before its type (`veth.pair`
    means nothing until the interface is a veth): a template's `lxc.net.0.type = empty`
    below lxcprov's section, and a bridge then set into the section, made a config no
    command could load. The type line moves up to the interface's first key."""
    out = list(lines)
    for line in lines:
        match = _NET_KEY.match(line.key)
        if not match or line.key != f"lxc.net.{match.group(1)}.type":
            continue
        prefix = f"lxc.net.{match.group(1)}."
        first = next(i for i, ln in enumerate(out) if ln.key.startswith(prefix))
        here = next(i for i, ln in enumerate(out) if ln is line)
        if first < here:
            out.insert(first, out.pop(here))
    return out


def read(path: Path) -> str:
    """A container's config as text; one line when it is missing or not UTF-8."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ContainerConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContainerConfigError(
            f"{path}: not UTF-8 text (byte {exc.start})",
            hint="lxcprov edits config files as UTF-8 text: fix the bytes there first",
        ) from None


# What some reader of a config takes for the end of a line besides \n (str.splitlines,
# editors): a value holding one could write a line of its own (a hook LXC runs as root).
_LINE_BREAKS = frozenset("\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def write(path: Path, text: str) -> None:
    """Replace path atomically (temp file in the same directory, then rename), keeping mode.

    Refused, whoever made the text: a line break other than \n, or a NUL. lxcprov's values
    come from images, documents and containers' files too; one that slipped past its own
    check must not become a line of its own here."""
    bad = next((ch for ch in text if ch in _LINE_BREAKS or ch == "\0"), None)
    if bad is not None:
        line = text[: text.index(bad)].count("\n") + 1
        raise ContainerConfigError(
            f"{path}: refused to write a config whose line {line} holds {bad!r}",
            hint="a value with a line break or NUL would read as a line of its own",
        )
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o640
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise statefile.write_error(path, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
