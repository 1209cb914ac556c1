"""Every hook is documented, under a heading with its exact signature (datasette's idea)."""

from __future__ import annotations

import inspect
from pathlib import Path

from videogw import hookspecs

DOCS = Path(__file__).parent.parent / "docs" / "plugin-hooks.md"


def hook_signatures() -> dict[str, str]:
    found = {}
    for name, function in vars(hookspecs).items():
        if callable(function) and hasattr(function, "videogw_spec"):
            args = ", ".join(inspect.signature(function).parameters)
            found[name] = f"{name}({args})"
    return found


def test_there_are_hooks() -> None:
    assert "register_providers" in hook_signatures()


def test_every_hook_is_documented_with_its_exact_signature() -> None:
    text = DOCS.read_text(encoding="utf-8")
    headings = {line[3:].strip() for line in text.splitlines() if line.startswith("## ")}
    for _name, signature in hook_signatures().items():
        assert signature in headings, f"docs/plugin-hooks.md lacks '## {signature}'"
