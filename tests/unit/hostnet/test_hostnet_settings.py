"""Saved settings: TOML round trip, env-overridable dirs, defaults, validation."""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path

import pytest

from lxcprov.errors import InvalidNetSettingError
from lxcprov.system.hostnet import settings
from lxcprov.system.hostnet.settings import NetSettings


@pytest.fixture(autouse=True)
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LXCPROV_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("LXCPROV_STATE_DIR", str(tmp_path / "var"))
    return tmp_path


def test_dirs_follow_environment(dirs: Path) -> None:
    assert settings.settings_file() == dirs / "etc" / "net.toml"
    assert settings.bridge_state_dir("br0") == dirs / "var" / "net" / "br0"


def test_dirs_default_to_system_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LXCPROV_CONFIG_DIR")
    monkeypatch.delenv("LXCPROV_STATE_DIR")
    assert settings.settings_file() == Path("/etc/lxcprov/net.toml")
    assert settings.state_dir() == Path("/var/lib/lxcprov")


def test_round_trip_and_default(dirs: Path) -> None:
    a = NetSettings("lxcbr0", ipaddress.IPv4Interface("10.0.3.1/24"))
    b = NetSettings("br-test.1", ipaddress.IPv4Interface("10.9.0.254/16"), False, False, "veth7")
    assert settings.load() is None
    settings.save(a)
    settings.save(b)
    assert settings.load() == a  # the first one saved became the default
    assert settings.load("br-test.1") == b
    assert settings.load("other") is None
    data = tomllib.loads((dirs / "etc" / "net.toml").read_text())
    assert data["default"] == "lxcbr0"
    assert data["bridges"]["br-test.1"] == {
        "address": "10.9.0.254/16",
        "dhcp": False,
        "nat": False,
        "uplink": "veth7",
    }
    assert "uplink" not in data["bridges"]["lxcbr0"]
    settings.save(b, make_default=True)
    assert settings.load_config().default == "br-test.1"


def test_forgetting_the_default_promotes_nobody() -> None:
    settings.save(NetSettings("a0", ipaddress.IPv4Interface("10.1.0.1/24")))
    settings.save(NetSettings("b0", ipaddress.IPv4Interface("10.2.0.1/24")))
    settings.forget("a0")
    config = settings.load_config()
    assert config.default is None
    assert list(config.bridges) == ["b0"]
    settings.forget("a0")  # again: nothing happens
    assert list(settings.load_config().bridges) == ["b0"]


def test_broken_file_is_a_named_error(dirs: Path) -> None:
    (dirs / "etc").mkdir()
    (dirs / "etc" / "net.toml").write_text("[bridges.x\n")
    with pytest.raises(InvalidNetSettingError, match=r"net\.toml"):
        settings.load()


@pytest.mark.parametrize("name", ["", "a" * 16, "a/b", "a b", "..", "-x"])
def test_bad_bridge_names(name: str) -> None:
    with pytest.raises(InvalidNetSettingError):
        settings.check_bridge_name(name)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10.0.3.0/24", "network or broadcast"),
        ("10.0.3.255/24", "network or broadcast"),
        ("10.0.3.1/30", "prefix /30"),
        ("10.0.3.1/32", "prefix /32"),
        ("banana", "invalid IPv4"),
    ],
)
def test_bad_addresses(value: str, message: str) -> None:
    with pytest.raises(InvalidNetSettingError, match=message):
        settings.check_address(value)
