"""SHA-512 crypt hashes for /etc/shadow, made by openssl so no plaintext is ever stored.

Python 3.11's crypt module is deprecated (and gone in 3.13); openssl is on every Debian
system and `openssl passwd -6` writes the same $6$ format glibc and busybox read. The
password goes through stdin, never argv.

openssl reads that stdin line into a fixed buffer: apps/passwd.c has `pw_maxlen = 256`,
reads with `BIO_gets(in, passwd, pw_maxlen + 1)` and silently drops the rest of the line.
Measured (OpenSSL 3.0, Debian 12): any password longer than 256 bytes gets the same hash
as its first 256 bytes, so the full password typed at login would never match; a NUL
ends the C string early, a newline starts a second password. Those are refused.
"""

from __future__ import annotations

import secrets
import string

from lxcprov.errors import InvalidArgumentError
from lxcprov.system import run

MAX_PASSWORD_BYTES = 256

_SALT_CHARS = string.ascii_letters + string.digits + "./"


def check_password(password: str) -> None:
    """Refuse a password openssl would hash as something other than itself."""
    size = len(password.encode("utf-8", errors="surrogateescape"))
    problem = ""
    if "\n" in password or "\0" in password:
        problem = "holds a newline or a NUL byte"
    elif size > MAX_PASSWORD_BYTES:
        problem = f"is {size} bytes long, more than the {MAX_PASSWORD_BYTES} that can be hashed"
    if problem:
        raise InvalidArgumentError(
            f"the root password {problem}",
            hint=f"use one line of at most {MAX_PASSWORD_BYTES} bytes (UTF-8) without NUL: "
            "openssl passwd, which makes the hash, would silently hash something else",
        )


def hash_password(password: str, salt: str | None = None) -> str:
    check_password(password)
    salt = salt or "".join(secrets.choice(_SALT_CHARS) for _ in range(16))
    out = run.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"], input_text=password + "\n")
    return out.stdout.strip()


def verify(password: str, hashed: str) -> bool:
    """True when hashed is a $6$ hash of password (other schemes: we cannot tell, False)."""
    parts = hashed.split("$")
    if len(parts) < 4 or parts[1] != "6" or parts[2].startswith("rounds="):
        return False
    return secrets.compare_digest(hash_password(password, parts[2]), hashed)


def generate_password(length: int = 16) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))
