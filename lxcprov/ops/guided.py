"""Guided `lxcprov new`: on a terminal, ask for what is missing; elsewhere, never ask.

The questions offer only what can work on this host (templates whose tools are here,
the bridges that exist, `net setup` when there is none) with defaults; the CLI then shows
the equivalent one-line command (Guided.shown, spelled by lxcprov.cli.newrequest) so the
user learns it. Input and output go through a small Prompter, so tests can drive the
questions without a terminal.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from lxcprov.engine import distros, settings_table, sizes
from lxcprov.engine.recipes.actions import parse_public_keys
from lxcprov.errors import InvalidArgumentError, LxcprovError
from lxcprov.ops import new
from lxcprov.ops.access import STDIN, Access
from lxcprov.ops.request import NewRequest
from lxcprov.system import hostnet, lxc, passwords


class Prompter(Protocol):
    def ask(self, question: str, default: str = "", choices: Sequence[str] = ()) -> str: ...

    def secret(self, question: str) -> str: ...

    def say(self, text: str) -> None: ...


class TerminalPrompter:
    """Questions on stderr, answers from stdin (stdout stays for --json)."""

    def ask(self, question: str, default: str = "", choices: Sequence[str] = ()) -> str:
        shown = f" [{'/'.join(choices)}]" if choices else ""
        shown += f" ({default})" if default else ""
        sys.stderr.write(f"{question}{shown}: ")
        sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:
            raise InvalidArgumentError("no answer (end of input)", hint="run it again")
        return line.strip() or default

    def secret(self, question: str) -> str:
        return getpass.getpass(f"{question}: ", stream=sys.stderr)

    def say(self, text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def on_terminal() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


@dataclass
class Given:
    """What the user put on the command line (None: not given)."""

    name: str | None = None
    template: str | None = None
    release: str | None = None
    password_file: Path | None = None
    ssh_keys: list[Path] = field(default_factory=list)
    network: str | None = None  # "bridge" or "none"
    bridge: str | None = None
    ip: str | None = None
    settings: dict[str, str] = field(default_factory=dict)


@dataclass
class Guided:
    request: NewRequest  # with the limits asked for in request.settings
    # The request as its one-line command shows it: a typed password (in a temporary
    # file) as PASSWORD_FILE, a file of the user's own.
    shown: NewRequest
    setup_bridge: str | None = None  # `net setup` was run for this bridge
    _scratch: Path | None = None

    def cleanup(self) -> None:
        """Remove the typed password's temporary file (call once `new` has read it)."""
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)


@dataclass(frozen=True)
class TemplateChoice:
    name: str
    needs: str  # what it needs, shown next to it
    usable: bool
    takes_release: bool = True
    releases: tuple[str, ...] = ()  # offered (empty: none known; it may take others)
    default_release: str | None = None
    why_not: str = ""  # why it cannot work here (`new` refuses it without --force)

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "needs": self.needs, "usable": self.usable,
                "takes_release": self.takes_release, "releases": list(self.releases),
                "default_release": self.default_release,
                "why_not": self.why_not or None}  # fmt: skip


def template_choices() -> list[TemplateChoice]:
    """Templates installed here, each with what it needs and whether that is here."""
    installed = set(lxc.available_templates())
    # Templates no family describes are not offered to beginners (they still work by name).
    known = [t for t in distros.known_templates() if t.name in installed]
    return [
        TemplateChoice(
            t.name,
            t.summary,
            t.usable(),
            t.release_option is not None,
            t.releases,
            t.default_release,
            t.why_not(),
        )
        for t in known
    ]


def missing_for_script(given: Given) -> list[str]:
    return [
        what
        for what, value in (("NAME", given.name), ("--template", given.template))
        if value is None
    ]


def resolve(given: Given, lxcpath: Path, io: Prompter | None = None) -> Guided:
    """Fill what `new` was not given: by questions on a terminal, else an error naming it.

    `new` calls this when NAME or --template is missing. The caller shows the one-line
    command of Guided.shown; it must call Guided.cleanup() after lxcprov.ops.new.new.
    """
    if io is None:
        if not on_terminal():
            missing = missing_for_script(given)
            raise InvalidArgumentError(
                f"missing {' and '.join(missing)} (not on a terminal, so nothing is asked)",
                hint="for example: lxcprov new web1 --template debian",
            )
        io = TerminalPrompter()
    return _Questions(given, lxcpath, io).run()


class _Questions:
    def __init__(self, given: Given, lxcpath: Path, io: Prompter) -> None:
        self.g = given
        self.lxcpath = lxcpath
        self.io = io
        self.scratch: Path | None = None
        self.setup_bridge: str | None = None

    def _loop(
        self,
        question: str,
        default: str,
        check: Callable[[str], str],
        choices: Sequence[str] = (),
    ) -> str:
        """Ask until check(answer) does not raise; a bad answer's message is shown."""
        while True:
            answer = self.io.ask(question, default, choices)
            try:
                return check(answer)
            except LxcprovError as exc:
                self.io.say(f"  {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))

    @staticmethod
    def _choice(choices: Sequence[str]) -> Callable[[str], str]:
        def check(answer: str) -> str:
            if answer not in choices:
                raise InvalidArgumentError(f"{answer!r} is not one of {', '.join(choices)}")
            return answer

        return check

    def template(self) -> str:
        if self.g.template is not None:
            return self.g.template
        offered = template_choices()
        usable = [t.name for t in offered if t.usable]
        if not usable:
            raise InvalidArgumentError(
                "no template can work on this host", hint="apt-get install lxc-templates busybox"
            )
        self.io.say("Templates on this host:")
        for t in offered:
            mark = "" if t.usable else " (not here)"
            self.io.say(f"  {t.name:<8} {t.needs}{mark}")
        default = "debian" if "debian" in usable else usable[0]
        return self._loop("Template", default, self._choice(usable), usable)

    def release(self, template: str) -> str | None:
        info = distros.template(template)
        if self.g.release is not None or info.release_option is None:
            return self.g.release
        answer = self.io.ask("Release", info.default_release or "", info.releases)
        return answer or None

    def name(self, template: str) -> str:
        if self.g.name is not None:
            return self.g.name
        n = 1
        while lxc.Container(f"{template}{n}", self.lxcpath).exists():
            n += 1

        def check(answer: str) -> str:
            lxc.check_name(answer)
            if lxc.Container(answer, self.lxcpath).exists():
                raise InvalidArgumentError(f"{answer!r} already exists")
            return answer

        return self._loop("Name (also its hostname)", f"{template}{n}", check)

    def access(self) -> tuple[Path | None, list[Path]]:
        if self.g.password_file is not None or self.g.ssh_keys:
            return self.g.password_file, self.g.ssh_keys
        how = self._loop(
            "Root access: a password, a public key file, or a generated password",
            "password",
            self._choice(("password", "key", "generate")),
            ("password", "key", "generate"),
        )
        if how == "generate":
            return None, []
        if how == "key":

            def check(answer: str) -> str:
                path = Path(answer).expanduser()
                try:
                    parse_public_keys(path.read_text(), str(path))
                except OSError as exc:
                    raise InvalidArgumentError(f"cannot read {path}: {exc.strerror}") from None
                return str(path)

            default = next(
                (
                    str(p)
                    for p in (Path.home() / ".ssh/id_ed25519.pub", Path.home() / ".ssh/id_rsa.pub")
                    if p.is_file()
                ),
                "",
            )
            return None, [Path(self._loop("Public key file", default, check))]
        while True:
            first = self.io.secret("Root password")
            if not first:
                self.io.say("  empty: type one (or answer 'generate' next time)")
                continue
            try:
                passwords.check_password(first)
            except InvalidArgumentError as exc:
                self.io.say(f"  {exc.message}; another one")
                continue
            if self.io.secret("Again") == first:
                break
            self.io.say("  the two do not match; again")
        # Access reads the password from a file: a private one, removed by cleanup().
        self.scratch = Path(tempfile.mkdtemp(prefix="lxcprov-guided-"))
        path = self.scratch / "root-password"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(first + "\n")
        return path, []

    def network(self) -> tuple[str, str | None, str | None]:
        g = self.g
        if g.network is not None or g.bridge is not None or g.ip is not None:
            return g.network or "bridge", g.bridge, g.ip
        bridge = hostnet.default_bridge() or hostnet.settings.DEFAULT_BRIDGE
        exists = hostnet.link(bridge) is not None
        saved = hostnet.load_settings(bridge)
        if not exists:
            choices = ("setup", "none")
            self.io.say(
                f"There is no bridge {bridge} yet: `lxcprov net setup` makes one with NAT and "
                "DHCP, or the container gets loopback only."
            )
            answer = self._loop("Network", "setup", self._choice(choices), choices)
            if answer == "none":
                return "none", None, None
            self.io.say(f"running: lxcprov net setup --bridge {bridge}")
            hostnet.setup(bridge)
            self.setup_bridge = bridge
            saved = hostnet.load_settings(bridge)
        else:
            choices = ("bridge", "none")
            answer = self._loop(
                f"Network (bridge {bridge})", "bridge", self._choice(choices), choices
            )
            if answer == "none":
                return "none", None, None
        modes = ("dhcp", "auto", "static") if saved is not None else ("dhcp", "static")
        default = "dhcp" if saved is None or saved.dhcp else "auto"
        mode = self._loop("Address: DHCP, a free static one (auto), or yours", default,
                          self._choice(modes), modes)  # fmt: skip
        ip: str | None = None
        if mode == "auto":
            ip = "auto"
        elif mode == "static":
            ip = self.io.ask("Address (ADDR/PREFIX)", "")
        return "bridge", bridge, ip

    def limits(self) -> dict[str, str]:
        chosen = dict(self.g.settings)
        for key, question in (("memory", "Memory limit (e.g. 512M)"), ("cpus", "CPUs (e.g. 1)")):
            if key in chosen:
                continue

            def check(answer: str, key: str = key) -> str:
                if answer.lower() in ("", "none"):
                    return ""
                settings_table.parse_assignments([f"{key}={answer}"])
                if key == "memory":
                    sizes.parse_size(key, answer)
                return answer

            answer = self._loop(question, "none", check)
            if answer and answer.lower() != "none":
                chosen[key] = answer
        return chosen

    def run(self) -> Guided:
        try:
            template = self.template()
            lxc.check_template(template)
            release = self.release(template)
            name = self.name(template)
            password_file, keys = self.access()
            network, bridge, ip = self.network()
            limits = self.limits()
        except BaseException:
            if self.scratch is not None:
                shutil.rmtree(self.scratch, ignore_errors=True)
            raise
        request = NewRequest(
            name=name,
            template=template,
            lxcpath=self.lxcpath,
            release=release,
            network=network,
            bridge=bridge,
            ip=ip,
            access=Access(password_file, keys),
            settings=limits,
        )
        shown = shown_request(request, typed_password=self.scratch is not None)
        return Guided(request, shown, self.setup_bridge, self.scratch)


def check(req: NewRequest) -> NewRequest:
    """`new --check`: what `new` checks before it makes anything; returns the request as
    its one-line command shows it.

    A password or key read from standard input (a form that pipes it, as Cockpit's page
    does) shows as PASSWORD_FILE or PUBLIC_KEY_FILE, like a password typed into guided
    `new`.
    """
    new.check(req)
    return shown_request(req, typed_password=str(req.access.password_file) in STDIN)


def shown_request(req: NewRequest, *, typed_password: bool) -> NewRequest:
    """req as its one-line command shows it: placeholders for what the user typed or
    piped (no file of theirs holds it)."""
    keys = [Path("PUBLIC_KEY_FILE") if str(k) in STDIN else k for k in req.access.ssh_key_files]
    password = Path("PASSWORD_FILE") if typed_password else req.access.password_file
    return dataclasses.replace(req, access=Access(password, keys))
