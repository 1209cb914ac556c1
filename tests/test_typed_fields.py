"""`submit`, `run`, `estimate`, `explain` and `compare` take the request's fields as typed
keyword arguments: mypy (and so an IDE) catches a misspelt or mistyped field."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

GOOD = """
import videogw
with videogw.Gateway() as gw:
    gw.submit(model="dop-lite", prompt="a cat", image="https://example.com/c.jpg", seed=42,
              motion={"id": "m", "strength": 0.5})
"""
BAD = """
import videogw
with videogw.Gateway() as gw:
    gw.submit(model="dop-lite", promt="a cat")
    gw.run(model="dop-lite", seed="x")
"""


@pytest.mark.slow
def test_mypy_catches_a_misspelt_or_mistyped_field(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.py", tmp_path / "bad.py"
    good.write_text(GOOD)
    bad.write_text(BAD)
    out, _, status = api.run([str(good), "--strict", "--no-incremental"])
    assert status == 0, out
    out, _, status = api.run([str(bad), "--strict", "--no-incremental"])
    assert status == 1
    assert 'Unexpected keyword argument "promt"' in out
    assert '"seed"' in out
