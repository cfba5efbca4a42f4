"""``chequered demo`` leaves something to look at: with ``--linger`` the page stays up after the flag until
Ctrl-C, its address is printed again at the end, and another command finds the demo's broker through the
home (the installed ``chequered``, real processes)."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from tests.commands import Output, chequered, http_get, spawn

pytestmark = pytest.mark.slow

PAGE = re.compile(r"^live timing page: (http://\S+)/\?session=(\S+)&token=(\S+)$")


def test_the_demo_lingers_until_ctrl_c_and_says_what_to_try_next(tmp_path: Path) -> None:
    home = tmp_path / "home"
    demo = spawn("demo", "--max", "--linger", "--home", str(home), "--gateway-port", "0")
    assert demo.stdout is not None
    output = Output(demo.stdout)
    try:
        lingering = output.wait_for("the page stays up until Ctrl-C", timeout=180)
        pages = [found for line in output.lines if (found := PAGE.match(line))]
        assert len(pages) == 2 and pages[0].groups() == pages[-1].groups()  # at the start, and again at the end
        base, session, token = pages[-1].groups()
        status, body = http_get(f"{base}/api/sessions/{session}/classification?token={token}")
        assert status == 200 and '"phase":"finished"' in body  # after the flag, the gateway still serves
        hint = lingering.split("in another terminal, try: ")[1]
        assert hint == f"chequered at {session} --time 1h --home {home}"
        at = chequered(*hint.split()[1:-2], home=home)  # as printed (its own --home added the same)
        assert at.returncode == 0, at.stdout + at.stderr
        assert "chequered demo is running at nats://" in at.stderr
        assert re.search(r"Monza 3 Hours — Race — running — flag \w+ — 0:59:\d\d — seq \d+", at.stdout), at.stdout
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(30)
        output.close()
    assert code == 0
    assert output.lines[-1].startswith("demo stopped; to run it yourself: chequered serve all, then chequered replay")


def test_without_a_terminal_the_demo_ends_after_the_results(tmp_path: Path) -> None:
    done = chequered("demo", "--max", "--gateway-port", "0", home=tmp_path / "home", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert PAGE.match(lines[-3]) and lines[-1].startswith("demo stopped; to run it yourself")
