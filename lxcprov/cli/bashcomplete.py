"""bash's side of completion: the words as the user typed them, the replies as bash inserts them.

bash splits the line it completes at every character of COMP_WORDBREAKS, `=` and `:`
among them: `lxcprov set b1 memory=5` reaches a completion function as the words
`memory`, `=`, `5`, and readline replaces only the `5`. typer's script hands those words
on as they are, so `memory=` was never seen as one word and no value was ever offered.
This script sends the line itself up to the cursor (COMP_LINE, COMP_POINT); lxcprov
splits it as a shell reads words (at blanks, quotes removed) and answers each value
without the part bash already holds as other words (`512M` for `memory=5`). zsh and
fish keep typer's scripts: they split at blanks only.
"""

from __future__ import annotations

import os

from typer._click.shell_completion import split_arg_string
from typer._completion_classes import BashComplete

FUNCTION = "_lxcprov_completion"

# mapfile, not `COMPREPLY=( $(...) )`: an unquoted expansion would glob the replies.
# A single reply that ends in `=` (a key of `set`) gets no space after it: its value follows.
SCRIPT = """\
%(complete_func)s() {
    mapfile -t COMPREPLY < <(env COMP_LINE="${COMP_LINE:0:COMP_POINT}" \\
        COMP_WORDBREAKS="$COMP_WORDBREAKS" %(autocomplete_var)s=complete_bash "$1")
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]]; then
        compopt -o nospace
    fi
    return 0
}

complete -o default -F %(complete_func)s %(prog_name)s
"""


def words_of(line: str) -> tuple[list[str], str]:
    """The words before the one under the cursor (the program's name left out), and that
    one ("" after a blank): `lxcprov set b1 memory=5` is (["set", "b1"], "memory=5")."""
    words = split_arg_string(line)
    incomplete = words.pop() if words and line[-1:] not in ("", " ", "\t", "\n") else ""
    return words[1:], incomplete


def held_by_bash(line: str, incomplete: str, breaks: str) -> str:
    """The start of the word under the cursor that bash split off as other words (up to
    its last COMP_WORDBREAKS character): `memory=` of `memory=5`; "" when it split none."""
    cut = max((line.rfind(c) for c in breaks), default=-1)
    current = line[cut + 1 :]
    if not incomplete.endswith(current):
        return ""  # quoted: bash's word and the shell's differ; offer whole words
    return incomplete[: len(incomplete) - len(current)]


def replies(values: list[str], held: str) -> list[str]:
    """What bash inserts in place of its current word: each value without what it holds."""
    return [v[len(held) :] for v in values if v.startswith(held)]


class Bash(BashComplete):
    source_template = SCRIPT

    def complete(self) -> str:
        line = os.environ.get("COMP_LINE", "")
        args, incomplete = words_of(line)
        held = held_by_bash(line, incomplete, os.environ.get("COMP_WORDBREAKS", ""))
        values = [item.value for item in self.get_completions(args, incomplete)]
        return "\n".join(replies(values, held))
