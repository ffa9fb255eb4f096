"""The command lines that put a terminal or a command inside a running container.

`console` and `exec` hand the terminal over to LXC's own tools (the CLI execs the argv);
this module is all they load, so they start as fast as a command can (lifecycle's
start/stop/destroy bring doctor, mounts and recovery with them).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxcprov.errors import InvalidArgumentError, NotReadyError, StartFailedError
from lxcprov.system import freezer, lxc

# What `exec` runs commands with: a clean environment with a usual PATH.
EXEC_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Run inside the container by its own /bin/sh, before the command: root's HOME from its
# /etc/passwd (read by the shell: no awk in a busybox or minimal rootfs), and lxcprov's
# one line and hint when the command is not there, instead of lxc-attach's attach.c
# message. $0 is the container's name, "$@" the command; nothing is pasted into the text.
_PRELUDE = """\
while IFS=: read -r u _ _ _ _ h s; do
  if [ "$u" = root ]; then break; fi
  h= s=
done </etc/passwd 2>/dev/null
export HOME="${h:-/root}" USER=root LOGNAME=root
"""
# Then the command is found as exec will find it (a path, or the first executable file of
# that name on PATH), so that what exec cannot run is lxcprov's line and hint with the exit
# code a shell gives (127 not found, 126 not runnable), never the wrapper's own error with
# its line number: a shell builtin (`cd`, `export`) that is no program, a directory, a file
# that is not executable.
_EXEC = (
    _PRELUDE
    + """\
fail() {
  printf '%s\\n' "error: $2" "hint: $3" >&2
  exit "$1"
}
sh_c="to run a shell command: lxcprov exec $0 -- sh -c '$*'"
case $1 in
*/*) found=$1 ;;
*)
  found=
  set -f; IFS=:
  for dir in $PATH; do
    if [ -n "$dir" ] && [ -f "$dir/$1" ] && [ -x "$dir/$1" ]; then found=$dir/$1; break; fi
  done
  set +f; unset IFS
  if [ -z "$found" ]; then
    if command -v "$1" >/dev/null 2>&1; then
      fail 127 "$1 is not a program in $0 (it is part of the shell)" "$sh_c"
    fi
    fail 127 "no such command in $0: $1" \\
      "it is on no directory of $0's PATH ($PATH): install it there, or give its full path"
  fi ;;
esac
if [ -d "$found" ]; then
  fail 126 "$1 is a directory in $0, not a program" "list it with: lxcprov exec $0 -- ls $1"
elif [ ! -e "$found" ]; then
  fail 127 "no such file in $0: $1" "look for it with: lxcprov exec $0 -- ls -l $1"
elif [ ! -x "$found" ]; then
  fail 126 "$1 is not a program in $0 (it is not executable)" \\
    "a script: lxcprov exec $0 -- sh $1; or make it executable: chmod +x $1"
fi
exec "$@"
"""
)
# A login shell, as `incus shell` and `pct enter` give: su -l where there is su (HOME,
# cwd and the shell from root's passwd entry; TERM kept), else root's shell as a login
# shell in its home.
_SHELL = (
    _PRELUDE
    + """\
cd "$HOME" 2>/dev/null || cd /
if command -v su >/dev/null 2>&1; then exec su -l root; fi
exec "${s:-/bin/sh}" -l
"""
)


def login_tty(ttys: int) -> int:
    """The terminal `console` attaches to by default: tty1, or the console if no ttys."""
    return 1 if ttys >= 1 else 0


def running(container: lxc.Container) -> lxc.Container:
    lxc.require_root()
    container.require()
    if not container.running():
        raise StartFailedError(
            f"{container.name} is not running",
            hint=f"start it with: lxcprov start {container.name}",
        )
    if freezer.is_frozen(container):
        # Nothing in it runs: a command or a console in it would wait forever.
        raise StartFailedError(
            f"{container.name} is frozen: nothing in it runs",
            hint=f"lxcprov doctor {container.name} --fix thaws one a killed snapshot or copy "
            f"left frozen; else lxc-unfreeze -P {container.lxcpath} -n {container.name}",
        )
    return container


def console_argv(container: lxc.Container, tty: int | None) -> list[str]:
    """lxc-console on the container's login terminal (tty1, or the console without ttys)."""
    running(container)
    if tty is None:
        ttys = container.config().get("lxc.tty.max", "0")
        tty = login_tty(int(ttys) if ttys.isdigit() else 0)
    return ["lxc-console", "-P", str(container.lxcpath), "-n", container.name, "-t", str(tty)]


def _attach(container: lxc.Container, term: str | None) -> list[str]:
    running(container)
    argv = ["lxc-attach", "-P", str(container.lxcpath), "-n", container.name, "--clear-env",
            "--set-var", EXEC_PATH]  # fmt: skip
    if term:
        argv += ["--set-var", f"TERM={term}"]  # the caller's terminal, as incus does
    return argv


def exec_argv(container: lxc.Container, command: list[str], term: str | None = None) -> list[str]:
    """lxc-attach running command inside, with a clean environment (PATH, root's HOME,
    USER, the caller's TERM), in /; a command that is not there is one line and a hint."""
    if not command:
        return shell_argv(container, term)
    argv = _attach(container, term)
    return [*argv, "--", "/bin/sh", "-c", _EXEC, container.name, *command]


def shell_argv(container: lxc.Container, term: str | None = None) -> list[str]:
    """lxc-attach running root's login shell: HOME, cwd home, the caller's TERM."""
    return [*_attach(container, term), "--", "/bin/sh", "-c", _SHELL, container.name]


def require_terminal(stdin_is_tty: bool, name: str) -> None:
    if not stdin_is_tty:
        raise InvalidArgumentError(
            "console needs a terminal (its input is not one)",
            hint=f"run it from a terminal; for a command: lxcprov exec {name} -- COMMAND",
        )


# The programs that answer a terminal with a login prompt (the prompt script agetty runs
# on lxcprov's systemd containers is one of them; login asks for the password).
_PROMPTS = {"getty", "agetty", "mingetty", "fgetty", "mgetty", "login", "login-prompt"}


@dataclass(frozen=True)
class Terminal:
    """What `console` will find on a terminal, said before it attaches."""

    state: str  # "prompt", "session", "nothing" or "unknown"
    program: str = ""  # the foreground program there (the container's own name for it)


def terminal(container: lxc.Container, tty: int) -> Terminal:
    """Who reads the terminal now: its foreground process, asked of the terminal itself
    (nothing typed, nothing read: what it shows stays for lxc-console)."""
    if tty == 0:
        return Terminal("unknown")  # the console is relayed by LXC's monitor
    try:
        program = lxc.foreground_program(container, tty)
    except ValueError:  # python3-lxc: "Unable to allocate tty": someone is attached
        raise NotReadyError(
            f"tty{tty} of {container.name} is in use by another console",
            hint=f"leave that one (Ctrl-a q), or: lxcprov console {container.name} --tty N",
        ) from None
    except (NotReadyError, OSError):
        return Terminal("unknown")
    if program is None:
        return Terminal("nothing")
    if program.lstrip("-") in _PROMPTS or program.endswith("getty"):
        return Terminal("prompt", program)
    return Terminal("session", program)
