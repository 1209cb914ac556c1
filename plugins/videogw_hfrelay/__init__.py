"""videogw provider plugin ``hfrelay``: the "/higgsfield/*" reseller gateway family.

YutoAI, OpenAI-HK, GPTProto and other relays resell Higgsfield DoP image-to-video, Speak
talking videos and product ad videos under one API shape (seed 000; wire facts in
docs/providers/hfrelay.md). Config::

    [providers.hfrelay]
    relay = "yutoai"                             # informational; some relays' hosts are known
    base_url = "https://<your relay host>"       # required unless the relay's host is known
    # speech_path = "/higgsfield/speak"          # if your relay follows the guide's spelling
    # base_price_usd = 0.10                      # one lite video, to get USD estimates

and ``HFRELAY_API_KEY`` in the environment. Neutral models: ``dop-lite``,
``dop-standard``, ``dop-turbo`` (``motion`` required; ids from the ``motions`` catalog),
``speak-v2`` (``options.avatar_preset_id``, ``options.width``/``height``, and ``audio`` or
``options.speech_text`` + ``options.voice_id``) and ``hf-ads`` (task ``ad_video``,
``options.product_placement_sample_id``).
"""

from __future__ import annotations

from typing import Any

from videogw import hookimpl

from .config import KNOWN_RELAYS, HfRelayOptions, HfRelaySettings, Speak
from .provider import HfRelayProvider

__all__ = [
    "KNOWN_RELAYS",
    "HfRelayOptions",
    "HfRelayProvider",
    "HfRelaySettings",
    "Speak",
    "register_providers",
]


@hookimpl
def register_providers(register: Any) -> None:
    register(HfRelayProvider)
