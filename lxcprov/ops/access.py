"""Root access as the user gave it: file paths in, secrets in memory out."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from lxcprov.engine.recipes import Secrets
from lxcprov.engine.recipes.actions import parse_public_keys
from lxcprov.errors import InvalidArgumentError
from lxcprov.system import passwords

# A password piped in (Cockpit's page does) rather than kept in a file.
STDIN = ("/dev/stdin", "/proc/self/fd/0")


@dataclass
class Access:
    """Root access the user asked for (file paths are read here, secrets kept in memory)."""

    password_file: Path | None = None
    ssh_key_files: list[Path] = field(default_factory=list)
    # What the files held, read once: /dev/stdin (a page pipes the password) reads only once.
    _read: Secrets | None = field(default=None, repr=False, compare=False)

    def secrets(self) -> Secrets:
        if self._read is None:
            self._read = self._secrets()
        return dataclasses.replace(self._read, ssh_keys=list(self._read.ssh_keys))

    def _secrets(self) -> Secrets:
        password = None
        if self.password_file is not None:
            try:
                text = self.password_file.read_text()
            except OSError as exc:
                raise InvalidArgumentError(
                    f"cannot read {self.password_file}: {exc.strerror}"
                ) from None
            # The first line, ended by \n only (str.splitlines would also cut at \x85,
            # \u2028, ... inside the password); a CRLF file's \r is not part of it.
            password = text.split("\n", 1)[0].removesuffix("\r") if text.strip() else ""
            if not password:
                where = "standard input" if str(self.password_file) in STDIN else self.password_file
                raise InvalidArgumentError(
                    f"the root password ({where}) is empty", hint="type a password"
                )
            passwords.check_password(password)  # before anything is created
        keys: list[str] = []
        for key_file in self.ssh_key_files:
            try:
                keys += parse_public_keys(key_file.read_text(), str(key_file))
            except OSError as exc:
                raise InvalidArgumentError(f"cannot read {key_file}: {exc.strerror}") from None
        return Secrets(root_password=password, ssh_keys=keys)

    @property
    def given(self) -> bool:
        return self.password_file is not None or bool(self.ssh_key_files)
