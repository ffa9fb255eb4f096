"""Text from users, containers and templates is matched whole, shown inert, split only
on newlines, and never echoed when it is a secret or a file given to lxcprov."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pytest
from rich.console import Console

import lxcprov.cli
from lxcprov.cli import guard, newrun, render
from lxcprov.cli.common import printable
from lxcprov.engine import settings_table
from lxcprov.engine.facts import gather
from lxcprov.engine.lines import split_lines
from lxcprov.engine.recipes import Change, Plan, Secrets, StepPlan, apply, load_all, plan
from lxcprov.engine.recipes.actions import parse_public_keys
from lxcprov.engine.recipes.loader import load_file
from lxcprov.errors import InvalidArgumentError, InvalidNameError, RecipeFileError, RootfsError
from lxcprov.ops.access import Access
from lxcprov.system import lxc
from lxcprov.system.cgroups import CgroupHost
from lxcprov.system.passwords import MAX_PASSWORD_BYTES, hash_password
from lxcprov.system.rootfs import Rootfs
from tests.trees import debian_systemd, write

# -- names and values are matched whole ---------------------------------------------


@pytest.mark.parametrize("name", ["web1\n", "web1\r", "web\n1", "-web1", "web_1", ""])
def test_a_container_name_is_matched_whole(name: str) -> None:
    with pytest.raises(InvalidNameError):
        lxc.check_name(name)
    lxc.check_name("web1")


def _ctx() -> settings_table.Ctx:
    return settings_table.Ctx(CgroupHost("v2", v2=frozenset({"cpu", "cpuset"})), [], {})


@pytest.mark.parametrize(
    ("setting", "raw"),
    [
        ("hostname", "web1\n.example"),  # `$` let the label "web1\n" through
        ("hostname", "a\n.lxc\n.b"),
        ("cpus", "0-1\n,2"),
    ],
)
def test_setting_values_are_matched_whole(setting: str, raw: str) -> None:
    with pytest.raises(InvalidArgumentError):
        settings_table.SETTINGS[setting].compute(raw, _ctx())
    assert settings_table.hostname("web1.example", _ctx()).keys == {"lxc.uts.name": "web1.example"}


@pytest.mark.parametrize(
    ("key", "value"), [("name", '"web\\n"'), ("terminal", '"tty1\\n"'), ("terminal", '"ttys\\n"')]
)
def test_recipe_names_and_terminals_are_matched_whole(tmp_path: Path, key: str, value: str) -> None:
    top, step = (f"{key} = {value}\n", "") if key == "name" else ("", f"{key} = {value}\n")
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        f'{top}summary = "s"\n[[steps]]\naction = "file"\npath = "/etc/x"\ncontent = "x"\n{step}'
    )
    with pytest.raises(RecipeFileError):
        load_file(recipe)


# -- what came from a container or a template is shown inert on a terminal ------------

# A title change, a colour, a C1 CSI, a carriage return, a bidi override, a line
# separator and a byte that is not UTF-8 (as surrogateescape decodes it).
HOSTILE = "a\x1b]0;owned\x07b\x1b[31mc\x9b2Jd\re\u202ef\u2028g\udcffh"
INERT = "a\\x1b]0;owned\\x07b\\x1b[31mc\\x9b2Jd\\x0de\\u202ef\\u2028g\\xffh"


def test_printable_keeps_newlines_and_tabs_and_shows_the_rest() -> None:
    assert printable(HOSTILE) == INERT
    assert printable("line 1\n\tline 2 é ✓") == "line 1\n\tline 2 é ✓"


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What the CLI prints on stderr, as a terminal would get it."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, highlight=False, soft_wrap=True)
    for module in (render, newrun, guard, lxcprov.cli):
        monkeypatch.setattr(module, "err", console)
    return out


def _inert(text: str) -> None:
    # rich's own styling is plain SGR (ESC [ ... m); anything else came through raw.
    bare = text.replace("\x1b[", "")
    for raw in ("\x1b", "\x07", "\x9b", "\r", "\u202e", "\u2028"):
        assert raw not in bare, f"{raw!r} reached the terminal"
    assert "\\x1b]0;owned" in text


def test_dry_run_diffs_show_container_text_inert(terminal: io.StringIO) -> None:
    change = Change("/etc/motd", "file", "old\n", HOSTILE + "\n")
    plan = Plan("c1", [StepPlan("motd", "file", "file /etc/motd", [change], "change")])
    render.show_plan(plan, diffs=True)
    _inert(terminal.getvalue())


def test_template_output_is_shown_inert(terminal: io.StringIO) -> None:
    newrun._progress(None, verbose=True).line(HOSTILE)  # as it runs, with -v
    _inert(terminal.getvalue())


def test_template_output_kept_and_shown_inert_when_it_fails(terminal: io.StringIO) -> None:
    newrun._TEMPLATE_TAIL.clear()
    newrun._progress(None).line(HOSTILE)
    assert terminal.getvalue() == "", "without -v the template's output is kept, not shown"
    newrun._show_template_tail()
    _inert(terminal.getvalue())


def test_error_messages_are_shown_inert(
    terminal: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing() -> None:
        raise RootfsError(f"/etc/{HOSTILE} in /x is a FIFO", details=[HOSTILE])

    monkeypatch.setattr(lxcprov.cli, "app", failing)
    with pytest.raises(SystemExit):
        lxcprov.cli.main()
    _inert(terminal.getvalue())


# -- rewrites split lines on \n only and keep the rest byte for byte -----------------

# Every character str.splitlines() ends a line at, besides \n.
SEPARATORS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def test_split_lines_is_splitlines_on_newline_only() -> None:
    for text in ("", "a", "a\n", "a\n\n", "\n", "a\nb", "a\nb\n"):
        assert split_lines(text) == text.splitlines()
        assert split_lines(text, keepends=True) == text.splitlines(keepends=True)
    assert split_lines(f"a{SEPARATORS}b\nc") == [f"a{SEPARATORS}b", "c"]


def test_rewrites_keep_lines_holding_unicode_separators(tmp_path: Path) -> None:
    root = debian_systemd(tmp_path)
    passwd = (
        f"root:x:0:0:root{SEPARATORS}:/root:/bin/bash\n"
        f"alice:x:1000:1000:Alice{SEPARATORS}Smith:/home/alice:/bin/sh\n"
    )
    write(root, "/etc/passwd", passwd)
    write(root, "/etc/shadow", f"root:*:1::::::\nalice:!{SEPARATORS}:1::::::\n", 0o640)
    write(root, "/etc/hosts", f"127.0.0.1 localhost\n10.0.0.5 box{SEPARATORS}x\n")
    with Rootfs(root) as rootfs:
        facts = gather("c1", rootfs, {"lxc.tty.max": "1"})
        apply(rootfs, plan(rootfs, facts, load_all(), Secrets(root_password="pw")))

    def text(path: str) -> str:  # read_text() would turn \r into \n
        return (root / path).read_bytes().decode()

    assert text("etc/passwd") == passwd, "root already has x: nothing to change"
    shadow = text("etc/shadow").split("\n")
    assert shadow[0].startswith("root:$6$") and shadow[1] == f"alice:!{SEPARATORS}:1::::::"
    assert len(shadow) == 3
    hosts = text("etc/hosts")
    assert hosts.startswith(f"127.0.0.1 localhost\n10.0.0.5 box{SEPARATORS}x\n")
    assert "c1" in hosts


# -- a file given to lxcprov is never echoed in an error ------------------------------

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxjeHByb3YgdGVzdCBrZXk= test@lxcprov"
PRIVATE = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"


@pytest.mark.parametrize(
    ("text", "line"),
    [(PRIVATE, 1), (f"# mine\n{KEY}\n\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n", 4)],
)
def test_a_bad_key_file_is_named_by_line_never_shown(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "id_ed25519"
    path.write_text(text)
    with pytest.raises(InvalidArgumentError) as caught:
        Access(ssh_key_files=[path]).secrets()
    error = caught.value
    assert error.message == f"{path}: line {line} is not an SSH public key"
    assert "b3BlbnNz" not in error.message + error.hint and "BEGIN" not in error.message
    assert parse_public_keys(f"  # indented comment\n{KEY}\n", "k") == [KEY]


# -- a password is hashed whole or refused ---------------------------------------------


def _crypt(password: str, salt: str) -> str:
    """libxcrypt's own SHA-512 crypt (what login checks against), the reference."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

    return str(crypt.crypt(password, f"$6${salt}$"))


def test_the_longest_password_is_hashed_whole() -> None:
    longest = "é" * (MAX_PASSWORD_BYTES // 2)  # 256 bytes of UTF-8
    assert hash_password(longest, "saltsalt") == _crypt(longest, "saltsalt")


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("a" * (MAX_PASSWORD_BYTES + 1), "257 bytes long"),  # openssl hashed its first 256
        ("é" * 129, "258 bytes long"),
        ("pass\0word", "NUL"),  # the C string ended at the NUL
        ("pass\nword", "newline"),  # a second password for openssl
    ],
)
def test_a_password_openssl_would_truncate_is_refused(
    tmp_path: Path, password: str, problem: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=problem):
        hash_password(password, "saltsalt")
    if "\n" not in password:  # a file's first line is the password
        path = tmp_path / "pw"
        path.write_text(password + "\n")
        with pytest.raises(InvalidArgumentError, match=problem):
            Access(password_file=path).secrets()


def test_the_password_is_the_first_line_whole(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text(f"pa{SEPARATORS[3:]}ss\r\nsecond line\n")
    assert Access(password_file=path).secrets().root_password == f"pa{SEPARATORS[3:]}ss"
