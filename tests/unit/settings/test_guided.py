"""The guided `new` questions, driven by a scripted prompter (no terminal needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from lxcprov.cli.new import shell_command
from lxcprov.errors import InvalidArgumentError
from lxcprov.ops import guided


class Script:
    def __init__(self, answers: list[str], secrets: list[str]) -> None:
        self.answers, self.secrets = answers, secrets
        self.asked: list[str] = []
        self.said: list[str] = []

    def ask(self, question: str, default: str = "", choices: Sequence[str] = ()) -> str:
        self.asked.append(question)
        return self.answers.pop(0) or default

    def secret(self, question: str) -> str:
        self.asked.append(question)
        return self.secrets.pop(0)

    def say(self, text: str) -> None:
        self.said.append(text)


def test_questions_make_a_request_and_the_equivalent_command(tmp_path: Path) -> None:
    io = Script(
        ["busybox", "bad name!", "", "password", "none", "lots", "256M", ""],
        ["pw-one", "pw-two", "pw-one", "pw-one"],
    )
    result = guided.resolve(guided.Given(), tmp_path, io)
    try:
        req = result.request
        assert (req.name, req.template, req.network) == ("busybox1", "busybox", "none")
        assert req.access.password_file is not None
        assert req.access.password_file.read_text() == "pw-one\n"
        assert req.access.password_file.stat().st_mode & 0o777 == 0o600
        assert req.settings == {"memory": "256M"}
        assert shell_command(result.shown) == (
            "lxcprov new busybox1 --template busybox --network none "
            "--root-password-file PASSWORD_FILE --memory 256M"
        )
        assert any("do not match" in s for s in io.said)
        assert any("invalid container name" in s for s in io.said)
        assert any("not a size" in s for s in io.said)
    finally:
        result.cleanup()
    assert not req.access.password_file.exists()


def test_given_values_are_not_asked(tmp_path: Path) -> None:
    io = Script(["generate", "none", "", ""], [])
    given = guided.Given(name="c1", template="busybox", settings={"cpus": "1"})
    result = guided.resolve(given, tmp_path, io)
    assert result.request.access.password_file is None
    assert "Template" not in io.asked and not any(q.startswith("Name") for q in io.asked)
    assert shell_command(result.shown) == (
        "lxcprov new c1 --template busybox --network none --cpus 1"
    )


def test_not_on_a_terminal_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError) as exc:
        guided.resolve(guided.Given(name="c1"), tmp_path)
    assert "missing --template" in exc.value.message and "NAME" not in exc.value.message
    with pytest.raises(InvalidArgumentError, match="missing NAME and --template"):
        guided.resolve(guided.Given(), tmp_path)


def test_a_typed_password_openssl_would_truncate_is_asked_again(tmp_path: Path) -> None:
    io = Script(["password", "none", "", ""], ["x" * 257, "pw-one", "pw-one"])
    result = guided.resolve(guided.Given(name="c1", template="busybox"), tmp_path, io)
    try:
        assert result.request.access.password_file is not None
        assert result.request.access.password_file.read_text() == "pw-one\n"
        assert any("257 bytes long" in s for s in io.said)
    finally:
        result.cleanup()
