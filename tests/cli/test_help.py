"""Every command's `--help`, at every depth, ends with its own examples and the exit codes that
apply to it, says in a sentence what each flag does and names its values readably; every example
is a `jobdock` line the real parser takes (so none can drift from the flags); and docs/cli.md's
command table and exit-code table say the same as the parser and the help."""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobdock.cli.main import build_parser
from jobdock.core.providers import builtin_ids

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
GLOBAL_FLAGS = {"-h", "--help", "--data-dir", "--demo", "--profile"}
SEPARATORS = {"|", "||", "&&", ";", "<", ">", ">>", "&"}


def walk(
    parser: argparse.ArgumentParser, path: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from walk(child, f"{path} {name}".strip())


def is_group(parser: argparse.ArgumentParser) -> bool:
    return any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def takes(flag: str, parser: argparse.ArgumentParser) -> bool:
    return any(flag in a.option_strings for a in parser._actions)


PARSER = build_parser()
COMMANDS = dict(walk(PARSER))


def section(help_text: str, title: str) -> list[str]:
    """The indented lines under `title:` up to the next blank line."""
    lines = help_text.splitlines()
    start = lines.index(f"{title}:") + 1
    found = []
    for line in lines[start:]:
        if not line.strip():
            break
        found.append(line)
    return found


def example_lines(help_text: str) -> list[str]:
    return [line.strip() for line in section(help_text, "examples")]


def exit_codes(help_text: str) -> set[int]:
    return {int(m.group(1)) for line in section(help_text, "exit codes")
            if (m := re.match(r"  (\d+) ", line))}  # fmt: skip


def command_words(line: str) -> list[str]:
    """The first command of a shell line: its words up to a pipe, `&&` or a redirection (a
    comment after `#` is dropped)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = []
    for word in lexer:
        if word in SEPARATORS:
            break
        words.append(word)
    return words


def parsed_path(namespace: argparse.Namespace) -> str:
    path = [namespace.command] if namespace.command else []
    deeper = getattr(namespace, f"{namespace.command}_command", None)
    return " ".join([*path, *([deeper] if deeper else [])])


@pytest.mark.parametrize("path", list(COMMANDS))
def test_help_ends_with_its_examples_and_exit_codes(path: str) -> None:
    text = COMMANDS[path].format_help()
    assert "\nexamples:\n" in text and "\nexit codes:\n" in text, text
    assert text.index("\nexamples:\n") < text.index("\nexit codes:\n")
    tail = text[text.index("\nexit codes:\n") :].strip().splitlines()
    assert all(line.startswith("  ") or not line or line == tail[-1] for line in tail[1:]), text
    assert 2 <= len(example_lines(text)) <= (8 if path == "" else 4), text
    codes = exit_codes(text)
    assert 2 in codes, text
    if path not in ("", "watch"):
        assert not codes & {3, 130, 143}, f"{path} waits for no job: {text}"
    if path and is_group(COMMANDS[path]):
        assert codes == {2}, text


@pytest.mark.parametrize("path", list(COMMANDS))
def test_every_flag_has_a_sentence_and_a_readable_value_name(path: str) -> None:
    for action in COMMANDS[path]._actions:
        name = "/".join(action.option_strings) or action.dest
        assert action.help and action.help != argparse.SUPPRESS, f"{path}: {name} has no help"
        takes_value = action.nargs != 0 and not isinstance(action, argparse._VersionAction)
        if takes_value and not action.choices:
            # a value named on purpose (URL, DIR, K=V), never one made of the dest (BASE_URL)
            assert action.metavar, f"{path}: {name} shows its value as {action.dest.upper()}"
            assert "_" not in str(action.metavar), f"{path}: {name}: {action.metavar}"


@pytest.mark.parametrize("path", list(COMMANDS))
def test_every_example_is_a_jobdock_line_the_parser_takes(path: str) -> None:
    for line in example_lines(COMMANDS[path].format_help()):
        assert line.startswith("jobdock "), f"{path}: {line}"
        words = command_words(line)
        assert words[0] == "jobdock", line
        try:
            parsed = build_parser().parse_args(words[1:])
        except SystemExit as exc:  # pragma: no cover - the message says which line
            raise AssertionError(f"{path}: {line!r} does not parse") from exc
        if path:  # its own examples: each runs this command (a group: one of its commands)
            assert (parsed_path(parsed) + " ").startswith(path + " "), f"{path}: {line}"


def test_an_example_that_does_not_parse_is_caught() -> None:
    with pytest.raises(Exception, match="--untill-done"):
        build_parser().parse_args(command_words("jobdock watch --untill-done | tee log")[1:])
    assert command_words("jobdock jobs --json | jq '.[] | .id'  # note") == ["jobdock", "jobs",
                                                                            "--json"]  # fmt: skip
    assert command_words("jobdock add x < key.txt") == ["jobdock", "add", "x"]


@pytest.mark.parametrize("path", ["", *(p for p, c in COMMANDS.items() if takes("--provider", c))])
def test_a_command_that_takes_a_provider_id_lists_the_ids(path: str) -> None:
    text = " ".join(COMMANDS[path].format_help().split())  # unwrapped
    listed = text.split("provider ids: ", 1)[1].split(" examples:")[0]
    ids = {i.strip(" ,") for i in listed.replace(", and", ",").split(",")}
    assert builtin_ids() <= ids, listed


# docs/cli.md ---------------------------------------------------------------------------------
def docs_section(title: str) -> str:
    text = DOCS.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def docs_commands() -> dict[str, str]:
    """The sub-command table: a command's path and its synopsis."""
    found = {}
    for row in docs_section("Sub-commands").splitlines():
        match = re.match(r"\| `([^`]+)` \|", row)
        if not match:
            continue
        synopsis = match.group(1).replace("\\|", "|")
        parser, path = PARSER, []
        for word in synopsis.split():
            children = next((a.choices for a in parser._actions
                             if isinstance(a, argparse._SubParsersAction)), {})  # fmt: skip
            if word not in children:
                break
            parser = children[word]
            path.append(word)
        found[" ".join(path)] = synopsis
    return found


def test_docs_list_every_command_with_exactly_its_flags() -> None:
    documented = docs_commands()
    leaves = {p for p, c in COMMANDS.items() if p and not is_group(c)}
    assert set(documented) == leaves
    for path, synopsis in documented.items():
        flags = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", synopsis))
        actual = {o for a in COMMANDS[path]._actions for o in a.option_strings} - GLOBAL_FLAGS
        assert flags == actual, f"docs/cli.md's `{synopsis}` vs the parser's {sorted(actual)}"


def test_docs_give_each_command_the_exit_codes_its_help_gives() -> None:
    table: dict[str, set[int]] = {}
    for row in docs_section("Exit codes").splitlines():
        cells = row.split(" | ")
        if len(cells) != 2 or not row.startswith("| `"):
            continue
        codes = {int(n) for n in re.findall(r"\d+", cells[1])}
        for path in re.findall(r"`([^`]+)`", cells[0]):
            table[path] = codes
    assert set(table) == set(COMMANDS) - {""}
    for path, codes in table.items():
        assert exit_codes(COMMANDS[path].format_help()) == codes, path
