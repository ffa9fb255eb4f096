"""What an application image runs, as LXC config lines (lxcprov.engine.appimage)."""

from __future__ import annotations

from typing import Any

import pytest

from lxcprov.engine import appimage
from lxcprov.errors import ImageError

PASSWD = "root:x:0:0::/root:/bin/sh\nweb:x:1000:1001::/srv:/bin/sh\n"
GROUP = "root:x:0:\nweb:x:1001:\nstaff:x:50:\n"


def _app(**config: Any) -> appimage.App:
    return appimage.app_of({"config": config}, PASSWD, GROUP)


def test_entrypoint_and_cmd_are_one_command_line_lxc_splits_back() -> None:
    app = _app(Entrypoint=["/bin/sh", "-c"], Cmd=["echo 'a b'; exec sleep 1"],
               Env=["A=1", "PATH=/bin"], WorkingDir="/srv", User="web")  # fmt: skip
    lines = app.config_lines()
    assert lines[0] == """lxc.init.cmd = /bin/sh -c "echo 'a b'; exec sleep 1\""""
    assert "lxc.environment = A=1" in lines and "lxc.init.cwd = /srv" in lines
    assert "lxc.init.uid = 1000" in lines and "lxc.init.gid = 1001" in lines
    assert appimage.kind_of({"lxc.execute.cmd": "/bin/sh"}) == appimage.APPLICATION
    assert appimage.kind_of({}) == appimage.SYSTEM


def test_defaults_are_a_shell_as_root_in_the_root_directory() -> None:
    app = _app()
    assert (app.argv, app.cwd, app.uid, app.gid) == (("/bin/sh",), "/", 0, 0)


@pytest.mark.parametrize(("user", "ids"), [("1000", (1000, 1001)), ("web:staff", (1000, 50)),
                                           ("5:6", (5, 6)), ("", (0, 0))])  # fmt: skip
def test_user_names_and_ids(user: str, ids: tuple[int, int]) -> None:
    app = _app(User=user)
    assert (app.uid, app.gid) == ids


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ({"User": "nobody-here"}, "does not have"),
        ({"User": "70000"}, "outside the ids"),
        ({"Cmd": ["a\nlxc.hook.pre-start = /bin/evil"]}, "line-break"),
        ({"Env": ["A=1\nlxc.include = /x"]}, "line-break"),
        # the outside review's host escape: \r in WorkingDir became a hook line
        ({"WorkingDir": '/\rlxc.hook.pre-start = /bin/sh -c "id > /tmp/x"'}, "line-break"),
        ({"WorkingDir": "/tmp\x85lxc.mount.entry = /var/tmp mnt none bind 0 0"}, "line-break"),
        ({"Env": ["A=1\u2028lxc.include = /x"]}, "line-break"),
        ({"Cmd": ["a\x0bb"]}, "line-break"),
        ({"User": "0\r"}, "line-break"),
        ({"Env": ["not a name=1"]}, "NAME=VALUE"),
        ({"WorkingDir": "relative"}, "absolute"),
        ({"Cmd": ["both ' and \""]}, "both quote marks"),
        ({"Entrypoint": "/bin/sh"}, "not a list"),
    ],
)
def test_what_would_become_another_config_line_or_id_is_refused(
    config: dict[str, Any], said: str
) -> None:
    with pytest.raises(ImageError, match=said):
        _app(**config).config_lines()
