"""Every Python code block in README.md runs as written, against the emulators on
loopback, with the README's own config (``videogw.toml`` in the current directory, its
secrets in the environment); and the Quickstart keeps its two command lines."""

from __future__ import annotations

import re
import runpy
from collections.abc import Iterator
from pathlib import Path

import pytest

from videogw.commands.serve import config_snippet
from videogw.emulator.harness import Emulated, emulate
from videogw.testing import registry_with

README = Path(__file__).parent.parent / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks() -> list[str]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


@pytest.fixture
def emulators(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Emulated]:
    from videogw_hfrelay import HfRelayProvider
    from videogw_higgsfield import HiggsfieldProvider
    from videogw_pixazo import PixazoProvider
    from videogw_segmind import SegmindProvider

    registry = registry_with(HiggsfieldProvider, SegmindProvider, PixazoProvider, HfRelayProvider)
    emulated = emulate(
        ["higgsfield", "segmind", "pixazo", "hfrelay"], registry=registry, loopback=True
    )
    snippet, env = config_snippet(emulated)
    (tmp_path / "videogw.toml").write_text(
        snippet + f'\n[ledger]\npath = "{tmp_path / "ledger.sqlite3"}"\n'
        "[poll]\nfloor_s = 0.2\ncap_s = 0.5\n",
        encoding="utf-8",
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("VIDEOGW_LEDGER", raising=False)
    monkeypatch.chdir(tmp_path)
    # the README's code finds the plugins as an installed program does
    monkeypatch.setattr("videogw.plugins._default", registry)
    yield emulated
    emulated.stop()


def test_the_readme_has_python_examples() -> None:
    assert len(python_blocks()) >= 4


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_every_python_block_runs_as_written(
    emulators: Emulated, tmp_path: Path, index: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code = python_blocks()[index]
    script = tmp_path / f"readme_{index}.py"
    script.write_text(code, encoding="utf-8")
    runpy.run_path(str(script), run_name="__main__")
    assert "Traceback" not in capsys.readouterr().err


def test_the_quickstart_keeps_its_two_lines() -> None:
    text = README.read_text(encoding="utf-8")
    quickstart = text.split("## Quickstart", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    assert quickstart.splitlines() == [
        "python3.11 -m venv .venv && .venv/bin/pip install . && .venv/bin/videogw demo",
        "python3.11 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/pytest",
    ]
