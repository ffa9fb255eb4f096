"""An application container's command, word for word, beside its LXC config.

LXC 5.0 (Debian 12's) splits `lxc.init.cmd` at every blank, with no quoting (quoted words
came with LXC 6.0): `sh -c "echo hi"` would run `sh -c '"echo'`. So the exact words of an
application image's Entrypoint and Cmd are kept here, `<lxcpath>/<name>/lxcprov-entrypoint.json`
(a JSON list of strings, written by lxcprov only), and lxcprov.system.lxc's start hands
them to lxc-start after `--`, which runs them as they are. The config's lxc.init.cmd stays
for tools that start it without lxcprov (exact when no word holds a blank).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lxcprov.errors import StateFileError
from lxcprov.system import statefile

FILE = "lxcprov-entrypoint.json"


def path_for(container_dir: Path) -> Path:
    return container_dir / FILE


def save(container_dir: Path, argv: list[str]) -> None:
    statefile.write_text(path_for(container_dir), json.dumps(argv) + "\n", mode=0o600)


def load(container_dir: Path) -> list[str] | None:
    """The words, or None when the container has none (a system container)."""
    path = path_for(container_dir)
    data = statefile.read_json(path)
    if data is None:
        return None
    if not isinstance(data, list) or not data or not all(isinstance(w, str) for w in data):
        raise StateFileError(f"{path} is not a list of words", hint="lxcprov wrote it; remove "
                             "it to start the container with its lxc.init.cmd")  # fmt: skip
    return data


def copy(src_dir: Path, dst_dir: Path) -> None:
    """A clone's command is its base's."""
    if path_for(src_dir).is_file():
        shutil.copy2(path_for(src_dir), path_for(dst_dir))
