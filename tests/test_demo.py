"""`videogw demo`, as the README's first Quickstart line runs it: a process of its own, with
no config and no keys, exiting 0 within a minute."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path


def test_demo_runs_end_to_end_in_a_subprocess(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VIDEOGW_", "HF_", "PIXAZO_", "SEGMIND_", "HFRELAY_"))
    }
    env.update(HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"), COLUMNS="120")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "videogw.cli", "demo"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    took = time.monotonic() - started
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert took < 60
    for expected in (
        "compare a DoP lite request across providers",
        "higgsfield answers 503 (injected), videogw fails over",
        "CapacityError: higgsfield HTTP 503",
        "accepted by pixazo",
        "speech to video: speak-v2 on segmind",
        "demo finished in",
    ):
        assert expected in out, expected
    for provider in ("higgsfield", "pixazo", "segmind", "hfrelay"):
        assert re.search(rf"{provider}\s+http://127\.0\.0\.1:\d+", out), provider
    assert re.search(r"higgsfield\s+rejected", out)  # the attempts of the failed-over job
    assert re.search(r"pixazo\s+accepted\s+succeeded\s+yes", out)
    assert re.search(r"segmind\s+accepted\s+succeeded\s+yes", out)
    assert re.search(r"sha256 [0-9a-f]{64}", out)
    ledger = re.search(r"ledger: (\S+ledger\.sqlite3)", out)
    assert ledger is not None
    assert Path(ledger.group(1)).is_file()
    assert not (tmp_path / "data").exists()  # the user's own ledger was never touched
