"""`mlplat new` on a terminal: copier's questionnaire asks what --data and the platform wiring leave
open, with defaults from the platform outputs. Driven through a real pseudo-terminal, like a person:
Enter accepts each offered default; only github_org (no default without a GitHub origin) is typed.
Questions show their help text (copier.yml), which is how the driver and the assertions know them."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

import pytest
from mlops_platform.scaffold.outputs import offline_outputs
from mlops_platform.scaffold.templating import read_answers

from .support import tool

pytestmark = pytest.mark.xdist_group("template-new")
#: copier marks each question with a microphone; prompt_toolkit asks the terminal for the cursor.
QUESTION = "\N{MICROPHONE}".encode()
CURSOR_QUERY, CURSOR_REPLY = b"\x1b[6n", b"\x1b[1;1R"
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
#: When a prompt is ready for its answer, from what prompt_toolkit 3.0 writes: each question is an application of
#: its own, which turns bracketed paste on (STARTED) in its first frame, once, after it attached its input; every
#: frame ends by turning line wrapping back on (DRAWN), and is written in one flush. So a question's first frame
#: is complete, and its application reading, once STARTED is followed by DRAWN: answered then, once per STARTED.
#: Its later frames (the cursor report's redraw, the answered question drawn again as done, which turns
#: bracketed paste off) never have a STARTED of their own, so they are never answered.
STARTED, DRAWN = b"\x1b[?2004h", b"\x1b[?7h"
#: A rejected answer is redrawn by the same application with the validator's message: answered again, once
#: per such frame.
REJECTED = b"Validation error"


def _answer(question: bytes) -> bytes:
    org = b"GitHub organisation (or user)" in question or b"question 'github_org'" in question
    return b"example-org\r" if org else b"\r"


def _ready(pending: bytes) -> bytes | None:
    """The question on screen once it is ready for its answer; `pending` is what the terminal got since the last
    answer."""
    if STARTED in pending:  # a new question: its first frame
        frame, marker = pending.partition(STARTED)[2], QUESTION
    elif REJECTED in pending:  # the same question again, with the validator's message
        frame, marker = pending, REJECTED
    else:
        return None
    if DRAWN not in frame.partition(marker)[2]:
        return None
    return ANSI.sub(b"", frame.rsplit(DRAWN, 1)[0].rsplit(QUESTION, 1)[-1]).strip()


def drive(command: list[str], timeout: float = 240) -> tuple[int, str]:
    """Run `command` on a pseudo-terminal answering each question; (exit code, screen text)."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "160", "LINES": "50"}
    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    screen, pending, cursor_queries = b"", b"", 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([master], [], [], 0.05)
        if not ready:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        screen, pending = screen + chunk, pending + chunk
        for _ in range(screen.count(CURSOR_QUERY) - cursor_queries):  # also one split across two reads
            os.write(master, CURSOR_REPLY)
        cursor_queries = screen.count(CURSOR_QUERY)
        question = _ready(pending)
        if question is not None:
            os.write(master, _answer(question))
            pending = b""
    if proc.poll() is None:  # stuck at a prompt: end it, the screen shows where
        proc.kill()
    proc.wait(timeout=30)
    os.close(master)
    return proc.returncode, ANSI.sub(b"", screen).decode(errors="replace")


@pytest.mark.slow
def test_new_on_a_terminal_asks_with_platform_defaults(tmp_path: Path) -> None:
    dest = tmp_path / "tty-project"
    code, screen = drive([tool("mlplat"), "new", "tty-project", "--env", "dev", "--dest", str(dest),
                                 "--offline", "--vcs-ref", "HEAD", "-d", "license=MIT"])
    assert code == 0, screen[-3000:]
    answers = read_answers(dest)
    tags = offline_outputs("dev").tags
    # defaults offered from the platform outputs, accepted with Enter
    assert answers["owners"] == [tags["owner"]] and answers["cost_center"] == tags["cost-center"]
    assert answers["github_org"] == "example-org" and answers["license"] == "MIT"
    # asked (their help on screen): open questions; never asked: --data answers and the platform wiring
    assert all(help_ in screen for help_ in ("Owner e-mail", "Cost center", "Python version of the project"))
    assert not any(help_ in screen for help_ in ("License of the project", "IAM role GitHub Actions assumes",
                                                 "AWS account id"))
    assert answers["outputs_source"] == "offline-plan"
    assert "is not onboarded in dev yet" in screen


def test_without_a_terminal_nothing_is_asked_and_every_missing_answer_is_listed(tmp_path: Path) -> None:
    done = subprocess.run([tool("mlplat"), "new", "quiet", "--env", "dev", "--dest", str(tmp_path / "q"),
                           "--offline"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode != 0 and not (tmp_path / "q").exists()
    for name in ("owners", "github_org", "cost_center"):
        assert name in done.stdout + done.stderr
