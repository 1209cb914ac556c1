"""The commands that need real sockets: `run` downloading from an emulator on loopback, and
`videogw emulate` as a subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from videogw import Gateway, MemoryStore
from videogw.cli import app
from videogw.commands.common import CliState
from videogw.config import Config
from videogw.emulator.harness import Emulated, emulate
from videogw.testing import registry_with

IMAGE = "https://example.com/cat.jpg"
RUN = ["run", "--model", "pixazo:dop-lite", "--prompt", "a cat", "--image", IMAGE]
RUN += ["--motion", "m-1"]


@pytest.fixture
def pixazo() -> Iterator[Emulated]:
    from videogw_pixazo import PixazoProvider

    emulated = emulate(["pixazo"], registry=registry_with(PixazoProvider), loopback=True)
    yield emulated
    emulated.stop()


def invoke(
    emulated: Emulated, store: MemoryStore, *args: str, download: dict[str, object] | None = None
) -> tuple[int, str, str]:
    def factory(config: Config) -> Gateway:
        settings = emulated.config(poll={"floor_s": 0.1, "cap_s": 0.5}, download=download or {})
        gateway: Gateway = emulated.gateway(config=settings, store=store)
        return gateway

    result = CliRunner().invoke(app, list(args), obj=CliState(gateway_factory=factory))
    return result.exit_code, result.stdout, result.stderr


def test_run_downloads_the_output_and_records_size_and_sha256(
    pixazo: Emulated, tmp_path: Path
) -> None:
    store = MemoryStore()
    dest = tmp_path / "clip.mp4"
    code, out, err = invoke(pixazo, store, *RUN, "--allow-private", "--output", str(dest), "--json")
    assert code == 0, err
    job = json.loads(out)
    (output,) = job["outputs"]
    data = dest.read_bytes()
    assert output["path"] == str(dest)
    assert output["size"] == len(data)
    assert output["sha256"] == hashlib.sha256(data).hexdigest()
    assert store.get(job["id"]).outputs[0].sha256 == output["sha256"]  # written to the ledger

    # the `download` command does the same for a stored job, into a directory
    again = tmp_path / "again"
    again.mkdir()
    code, out, err = invoke(
        pixazo, store, "download", job["id"], "--allow-private", "--output", str(again), "--json"
    )
    assert code == 0, err
    assert json.loads(out)["outputs"][0]["path"].startswith(str(again))


def test_run_refuses_a_loopback_output_unless_allowed(pixazo: Emulated, tmp_path: Path) -> None:
    store = MemoryStore()
    dest = tmp_path / "clip.mp4"
    code, _out, err = invoke(pixazo, store, *RUN, "--output", str(dest))
    assert code == 3
    assert err.strip().splitlines()[-1].startswith("error: refusing plain http")
    assert "[download] allow_private = true" in err  # the error names the setting
    assert list(tmp_path.iterdir()) == []
    (job,) = store.find()
    assert job.status.value == "succeeded"  # the job is fine; only the download was refused


def test_the_config_file_sets_the_download_defaults(pixazo: Emulated, tmp_path: Path) -> None:
    store = MemoryStore()
    dest = tmp_path / "clip.mp4"
    allowed = {"allow_private": True}
    code, _out, err = invoke(pixazo, store, *RUN, "--output", str(dest), download=allowed)
    assert code == 0, err
    assert dest.exists()
    tiny = {"allow_private": True, "max_bytes": 4}
    code, _out, err = invoke(
        pixazo, store, *RUN, "--output", str(tmp_path / "b.mp4"), download=tiny
    )
    assert code == 3
    assert "bytes" in err
    assert not (tmp_path / "b.mp4").exists()
    code, _out, err = invoke(
        pixazo,
        store,
        *RUN,
        "--no-allow-private",
        "--output",
        str(tmp_path / "c.mp4"),
        download=allowed,
    )
    assert code == 3, "the command line overrides the config file"


def test_emulate_serves_until_terminated(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VIDEOGW_DISABLE_PLUGIN_AUTOLOAD"}
    env["VIDEOGW_LEDGER"] = "memory"
    process = subprocess.Popen(
        [sys.executable, "-m", "videogw.cli", "emulate", "pixazo", "segmind", "--faults", "flaky"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith("export VIDEOGW_EMU_SEGMIND"):
                break
        urls = dict(line.split() for line in lines[:2])
        assert set(urls) == {"pixazo", "segmind"}
        text = "\n".join(lines)
        assert "[providers.pixazo]" in text
        assert f'base_url = "{urls["pixazo"]}"' in text
        assert 'api_key_env = "VIDEOGW_EMU_PIXAZO_API_KEY"' in text
        assert "export VIDEOGW_EMU_PIXAZO_API_KEY='emulator-key'" in text
        answer = httpx.get(f"{urls['pixazo']}/v2/requests/status/nope", timeout=5)
        assert answer.status_code in (401, 404)
        # the printed snippet is a working config
        config = tmp_path / "videogw.toml"
        config.write_text(text.split("# videogw.toml\n", 1)[1].split("# and in the shell")[0])
        exports = dict(
            line.removeprefix("export ").replace("'", "").split("=", 1)
            for line in lines
            if line.startswith("export ")
        )
        result = subprocess.run(
            [sys.executable, "-m", "videogw.cli", "--config", str(config), "providers", "--json"],
            capture_output=True,
            text=True,
            env={**env, **exports},
            timeout=30,
            check=False,
        )
        ready = {r["name"]: r.get("ready") for r in json.loads(result.stdout)}
        assert ready["pixazo"] is True
        assert ready["segmind"] is True
        # ... and it finishes a `videogw run`, output downloaded from the loopback emulator
        clip = tmp_path / "clip.mp4"
        result = subprocess.run(
            [sys.executable, "-m", "videogw.cli", "--config", str(config), *RUN, "-o", str(clip)],
            capture_output=True,
            text=True,
            env={**env, **exports},
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert clip.stat().st_size > 0
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0
