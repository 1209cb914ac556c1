"""videogw provider plugin: Segmind, serving Higgsfield Speak v2 (``speak-v2`` as
``higgsfield-speech2video``) and DoP (``dop-lite``/``dop-turbo``/``dop-standard`` as
``higgsfield-image2video``) over Segmind's v2 queue, or its v1 sync endpoint by option.

Registered through the ``videogw`` entry-point group; importing it touches no network.
"""

from __future__ import annotations

from typing import Any

from videogw import hookimpl

from .provider import SegmindOptions, SegmindProvider, SegmindSettings

__all__ = ["SegmindOptions", "SegmindProvider", "SegmindSettings", "register_providers"]


@hookimpl
def register_providers(register: Any) -> None:
    register(SegmindProvider)
