"""scripts/demo passes a headless sub-command to `jobdock --demo` instead of opening the window:
it must know every sub-command the parser has, or `scripts/demo status` on a machine with no
display runs the headless watch instead."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from jobdock.cli.main import build_parser

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "demo"


def test_scripts_demo_knows_every_sub_command() -> None:
    text = SCRIPT.read_text()
    case = re.search(r"case \$arg in\n(.*?)\)\n", text, re.S)
    assert case, "the sub-command case in scripts/demo"
    listed = {word.strip() for word in case.group(1).replace("\\\n", "").split("|")}
    commands = {
        name
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    }
    assert commands, "the parser's sub-commands"
    assert commands <= listed, sorted(commands - listed)
