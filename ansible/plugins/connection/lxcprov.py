# Tasks inside an lxcprov container of this machine, through `lxcprov exec`.

from __future__ import annotations

DOCUMENTATION = r"""
---
name: lxcprov
short_description: Run tasks inside an lxcprov container on this machine
description:
  - Runs each command with C(lxcprov exec NAME -- /bin/sh -c CMD) (lxc-attach, a clean
    environment) on the machine Ansible runs on, and copies files in and out through
    the same command. The inventory plugin lxcprov.lxcprov.containers sets it for every
    container it lists, so a play against containers can never run on the host by mistake.
  - C(raw) works in any container; other modules need Python inside the container.
  - The container must be on this machine (as the inventory plugin's hosts are).
version_added: 0.1.0
options:
  container:
    description: The container's name.
    type: str
    vars:
      - name: lxcprov_name
  lxcpath:
    description: Its lxcpath.
    type: str
    vars:
      - name: lxcprov_lxcpath
  executable:
    description: The lxcprov command.
    type: str
    default: lxcprov
    vars:
      - name: lxcprov_executable
author:
  - lxcprov developers
"""

import subprocess  # noqa: E402
from typing import Any  # noqa: E402

from ansible.errors import AnsibleConnectionFailure, AnsibleError  # noqa: E402
from ansible.plugins.connection import ConnectionBase  # noqa: E402


class Connection(ConnectionBase):  # type: ignore[misc]
    transport = "lxcprov.lxcprov.lxcprov"
    has_pipelining = True

    def _connect(self) -> Connection:
        super()._connect()
        if not self.get_option("container"):
            raise AnsibleConnectionFailure("lxcprov connection: no container (lxcprov_name)")
        self._connected = True
        return self

    def _argv(self, *command: str) -> list[str]:
        argv = [self.get_option("executable")]
        if self.get_option("lxcpath"):
            argv += ["--lxcpath", self.get_option("lxcpath")]
        return [*argv, "exec", self.get_option("container"), "--", *command]

    def exec_command(
        self, cmd: str, in_data: bytes | None = None, sudoable: bool = False
    ) -> tuple[int, bytes, bytes]:
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        proc = subprocess.run(self._argv("/bin/sh", "-c", cmd), input=in_data or b"",
                              capture_output=True, check=False)  # fmt: skip
        return proc.returncode, proc.stdout, proc.stderr

    def put_file(self, in_path: str, out_path: str) -> None:
        super().put_file(in_path, out_path)
        with open(in_path, "rb") as source:
            proc = subprocess.run(self._argv("/bin/sh", "-c", 'cat > "$1"', "sh", out_path),
                                  stdin=source, capture_output=True, check=False)  # fmt: skip
        if proc.returncode != 0:
            raise AnsibleError(f"cannot write {out_path}: {proc.stderr.decode(errors='replace')}")

    def fetch_file(self, in_path: str, out_path: str) -> None:
        super().fetch_file(in_path, out_path)
        proc = subprocess.run(self._argv("cat", in_path), capture_output=True, check=False)
        if proc.returncode != 0:
            raise AnsibleError(f"cannot read {in_path}: {proc.stderr.decode(errors='replace')}")
        with open(out_path, "wb") as target:
            target.write(proc.stdout)

    def close(self) -> None:
        self._connected = False

    def reset(self, *args: Any, **kwargs: Any) -> None:
        self.close()
