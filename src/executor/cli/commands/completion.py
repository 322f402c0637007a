"""``executor completion bash|zsh``: a completion script generated from the command tree.

It completes commands, sub-commands and options (static; tool paths are browsed with
``executor call <path> --help``). zsh uses the same script through ``bashcompinit``.
"""

from __future__ import annotations

import argparse

from executor.cli.context import Context
from executor.cli.parser import build_parser

_BASH = """\
# executor completion (bash). Enable: eval "$(executor completion bash)"
_executor_complete() {
    local cur words key
    cur="${COMP_WORDS[COMP_CWORD]}"
    words=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            -*) ;;
            *) words="${words:+$words }${COMP_WORDS[i]}" ;;
        esac
    done
    case "$words" in
%(cases)s
        *) key="" ;;
    esac
    COMPREPLY=($(compgen -W "$key" -- "$cur"))
}
complete -o default -F _executor_complete executor
"""


def _tree(parser: argparse.ArgumentParser, path: str, table: dict[str, list[str]]) -> None:
    words: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                words.append(name)
                _tree(child, f"{path} {name}".strip(), table)
        elif action.help != argparse.SUPPRESS:
            words.extend(o for o in action.option_strings if o.startswith("--"))
            if action.choices and not action.option_strings:
                words.extend(str(choice) for choice in action.choices)
    table[path] = words


def script(shell: str) -> str:
    table: dict[str, list[str]] = {}
    _tree(build_parser(), "", table)
    cases = "\n".join(
        f'        "{path}") key="{" ".join(words)}" ;;' for path, words in sorted(table.items())
    )
    text = _BASH % {"cases": cases}
    if shell == "zsh":
        text = (
            '# executor completion (zsh). Enable: eval "$(executor completion zsh)"\n'
            "autoload -U +X bashcompinit && bashcompinit\n" + text
        )
    return text


def completion(args: argparse.Namespace, ctx: Context) -> int:
    print(script(args.shell), end="")
    return 0
