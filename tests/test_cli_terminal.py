"""Issue 16: commands that wait show live progress in a real terminal (a pty): one line per
job, a bar that moves with the expected duration and an ETA, within a second of the
command being ready (start-up — interpreter, config, gateway, ledger — is measured
alongside with `videogw jobs` on the same config, and not counted)."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from videogw import Gateway
from videogw.config import parse_config
from videogw.emulator.app import Timing
from videogw.emulator.harness import Emulated, emulate
from videogw.testing import registry_with

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")

IMAGE = "https://example.com/cat.jpg"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def emulators() -> Iterator[Emulated]:
    from videogw_pixazo import PixazoProvider
    from videogw_segmind import SegmindProvider

    emulated = emulate(
        ["pixazo", "segmind"],
        registry=registry_with(PixazoProvider, SegmindProvider),
        loopback=True,
        timing=Timing(queue_s=1.0, run_s=10.0),
    )
    yield emulated
    emulated.stop()


def write_config(emulated: Emulated, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    from videogw.commands.serve import config_snippet

    snippet, env = config_snippet(emulated)
    config = tmp_path / "videogw.toml"
    ledger = tmp_path / "ledger.sqlite3"
    config.write_text(
        snippet + f'\n[ledger]\npath = "{ledger}"\n[poll]\nfloor_s = 0.2\ncap_s = 1.0\n'
    )
    return config, env


def cli_env(extra: dict[str, str]) -> dict[str, str]:
    dropped = ("VIDEOGW_LEDGER", "VIDEOGW_CONFIG", "VIDEOGW_DISABLE_PLUGIN_AUTOLOAD")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(extra, COLUMNS="120", LINES="40", TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    return env


def startup_seconds(env: dict[str, str], config: Path) -> float:
    """How long the same command line takes to load the config, build the gateway and open
    the ledger, then exit (`videogw jobs`): the part that is not the progress display."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "videogw.cli", "--config", str(config), "jobs", "-n", "1"],
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return time.monotonic() - started


def in_a_terminal(
    args: list[str], env: dict[str, str], *, seconds: float
) -> list[tuple[float, str]]:
    """Run the command on a pty; (time since start, screen text so far) per chunk read."""
    leader, follower = pty.openpty()
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "videogw.cli", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        close_fds=True,
    )
    os.close(follower)
    frames: list[tuple[float, str]] = []
    text = ""
    try:
        while time.monotonic() - started < seconds:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            text += chunk.decode("utf-8", "replace")
            frames.append((time.monotonic() - started, ANSI.sub("", text)))
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=20)
        os.close(leader)
    return frames


def first_time(frames: list[tuple[float, str]], *needles: str) -> float | None:
    for at, text in frames:
        if all(needle in text for needle in needles):
            return at
    return None


def percents(frames: list[tuple[float, str]], job_id: str) -> list[int]:
    found = []
    for _, text in frames:
        lines = [line for line in text.splitlines() if job_id[:12] in line]
        if lines:
            match = re.search(r"(\d+)%", lines[-1])
            if match:
                found.append(int(match.group(1)))
    return found


def test_resume_shows_every_job_with_a_moving_bar_within_a_second(
    emulators: Emulated, tmp_path: Path
) -> None:
    config, secrets = write_config(emulators, tmp_path)
    env = cli_env(secrets)
    before = startup_seconds(env, config)  # before the jobs start their clocks
    os.environ.update(secrets)
    try:
        with Gateway(parse_config(config.read_text()), registry=emulators.registry) as gateway:
            jobs = [
                gateway.submit(model=model, prompt="a cat", image=IMAGE, motion={"id": "m-1"})
                for model in ("pixazo:dop-lite", "segmind:dop-lite", "pixazo:dop-turbo")
            ]
    finally:
        for key in secrets:
            os.environ.pop(key, None)
    frames = in_a_terminal(["--config", str(config), "resume"], env, seconds=before + 30)
    ready = max(before, startup_seconds(env, config))  # a shared machine's load varies
    ids = [job.id[:12] for job in jobs]
    shown = first_time(frames, *ids)
    assert shown is not None, frames[-1][1] if frames else "no output"
    assert shown <= ready + 1.0, (shown, ready)
    final = frames[-1][1]
    assert "ETA" in "".join(text for _, text in frames)
    assert re.search(r"\d+:\d\d", final)  # time since the job was created
    moving = percents(frames, jobs[0].id)
    assert len(set(moving)) >= 3, moving  # the bar moved before the job finished
    assert "succeeded" in final


def test_compare_run_shows_each_job_as_it_is_submitted(emulators: Emulated, tmp_path: Path) -> None:
    config, secrets = write_config(emulators, tmp_path)
    env = cli_env(secrets)
    before = startup_seconds(env, config)
    args = ["--config", str(config), "compare", "-m", "dop-lite", "-p", "a cat"]
    args += ["--image", IMAGE, "--motion", "m-1", "--run", "--yes"]
    frames = in_a_terminal(args, env, seconds=before + 35)
    ready = max(before, startup_seconds(env, config))
    shown = first_time(frames, " on pixazo", " on segmind")
    assert shown is not None, frames[-1][1] if frames else "no output"
    assert shown <= ready + 1.0, (shown, ready)
    assert "ETA" in "".join(text for _, text in frames)
    assert "measured" in frames[-1][1]
