"""videogw provider plugin: the Higgsfield platform (v2 queue API; legacy v1 for Speak and
catalogs), and by configuration its marketplace listing (``mode = "marketplace"``).

```toml
[providers.higgsfield]              # HF_KEY="id:secret" (or HF_API_KEY + HF_API_SECRET)
use_estimate_endpoint = true

[providers.hf-market]               # the marketplace listing; RAPIDAPI_KEY in the env
plugin = "higgsfield"
mode = "marketplace"
base_url = "https://higgsfield-api.p.rapidapi.com"
```
"""

from __future__ import annotations

from typing import Any

from videogw import hookimpl

from .models import MODELS, HiggsfieldOptions
from .provider import HiggsfieldProvider, HiggsfieldSettings

__all__ = ["MODELS", "HiggsfieldOptions", "HiggsfieldProvider", "HiggsfieldSettings"]


@hookimpl
def register_providers(register: Any) -> None:
    register(HiggsfieldProvider)
