"""SHA-512 crypt hashes for /etc/shadow, made by openssl so no plaintext is ever stored.

Python 3.11's crypt module is deprecated (and gone in 3.13); openssl is on every Debian
system and `openssl passwd -6` writes the same $6$ format glibc and busybox read. The
password goes through stdin, never argv.
"""

from __future__ import annotations

import secrets
import string

from lxcprov.system import run

_SALT_CHARS = string.ascii_letters + string.digits + "./"


def hash_password(password: str, salt: str | None = None) -> str:
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
