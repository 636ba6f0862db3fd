"""`jobdock completion bash|zsh|fish` completes sub-commands, flags, `completion`'s shell names,
`--provider`'s ids (built in and bundled profiles) and `--state`'s values, in the real shells:
bash runs the function as its completion would, fish answers `complete -C`, and zsh is driven
in a pseudo-terminal (zsh/zpty) with compinit, a Tab typed after the words. A shell that is not
installed is skipped; the script's text is checked for the values either way."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from jobdock.cli.completion import SHELLS, script
from jobdock.cli.main import build_parser
from jobdock.core.model.job import JobState
from jobdock.core.providers import builtin_ids
from tests.support.tools import require_tools

COMMANDS = set(
    "profiles accounts submit track webhooks sync jobs watch download pause resume cancel remove"
    " status completion reset".split()
)
STATES = {s.value for s in JobState}
WATCH = {"--until-done", "--timeout", "--download-dir", "--no-auto-download", "--json", "--quiet"}
# what is typed before the Tab, what must be offered, and whether nothing else may be (a value)
CASES = [
    ("jobdock ", COMMANDS, False),
    ("jobdock accounts ", {"add", "list", "remove", "test"}, False),
    ("jobdock --demo webhooks ", {"enable", "disable", "register"}, False),
    ("jobdock profiles ", {"list", "check"}, False),
    ("jobdock watch --", {*WATCH, "--verbose", "--data-dir"}, False),
    ("jobdock completion ", set(SHELLS), False),
    ("jobdock accounts add work --provider ", set(builtin_ids()), True),
    ("jobdock accounts add work --provider amazon", {"amazon-sp-reports"}, True),
    ("jobdock jobs --state ", STATES, True),
    ("jobdock jobs --state fa", {"failed"}, True),
]

# Types the line and a Tab into an interactive zsh whose Tab completes, redraws (the listing
# is printed) and then prints a marker: the driver waits for the marker, not for a time, and
# sends nothing meanwhile (zsh lists no matches while keys are waiting).
ZSH_DRIVER = r"""
zmodload zsh/zpty
zpty z 'stty rows 60 columns 250; PS1="> " zsh -f -i'
zpty -w z 'autoload -Uz compinit; compinit -u -D; source "$SCRIPT"
probe() { zle complete-word; zle -R; print -r -- "PROBE""-DONE" >/dev/tty; }
zle -N probe; bindkey "^I" probe; echo RE""ADY'
out=""
while [[ $out != *READY* ]]; do zpty -r z line || exit 3; out+=$line; done
zpty -n -w z "$LINE"$'\t'
out=""
while [[ $out != *PROBE-DONE* ]]; do zpty -r z line || exit 4; out+=$line; done
print -r -- "$out"
zpty -w z $'\x15exit'
"""
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("completion")
    made = {}
    for shell in SHELLS:
        made[shell] = folder / f"jobdock.{shell}"
        made[shell].write_text(script(build_parser(), shell))
    return made


def offered(shell: str, path: Path, line: str) -> list[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(path.parent), "LINE": line, "SCRIPT": str(path)}
    if shell == "bash":
        words = " ".join(map(shlex.quote, line.split(" ")))
        probe = (
            f'source "$SCRIPT"; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1));'
            ' _jobdock; printf "%s\\n" "${COMPREPLY[@]}"'
        )
        done = run(["bash", "--norc", "-c", probe], env)
        return [w for w in done.stdout.splitlines() if w]
    if shell == "fish":
        done = run(["fish", "--no-config", "-c", 'source "$SCRIPT"; complete -C "$LINE"'], env)
        return [row.split("\t")[0] for row in done.stdout.splitlines()]
    done = run(["zsh", "-f", "-c", ZSH_DRIVER], {**env, "TERM": "xterm"})
    return ANSI.sub("", done.stdout).replace("\r", "\n").split()


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(("line", "expected", "only"), CASES, ids=[c[0] for c in CASES])
def test_completes_in_the_real_shell(
    scripts: dict[str, Path], shell: str, line: str, expected: set[str], only: bool
) -> None:
    require_tools(shell, purpose=f"completing in {shell}")
    got = offered(shell, scripts[shell], line)
    assert expected <= set(got), f"{shell}: {line!r} offered {got}"
    if only and shell != "zsh":  # zsh's screen holds the typed line as well
        assert set(got) == expected, f"{shell}: {line!r} offered {got}"


@pytest.mark.parametrize("shell", SHELLS)
def test_the_script_names_every_provider_id_state_and_shell(shell: str) -> None:
    text = script(build_parser(), shell)
    words = set(re.findall(r"[\w-]+", text))
    assert builtin_ids() <= words and STATES <= words and set(SHELLS) <= words
    assert COMMANDS <= words
