"""videogw provider plugin: Pixazo, a gateway reselling Higgsfield DoP image-to-video at
published per-clip prices (``dop-lite``, ``dop-turbo``, ``dop-standard`` = ``dop-preview``).

```toml
[providers.pixazo]
api_key_env = "PIXAZO_API_KEY"   # the default; the key itself stays in the environment
default_motion_id = "..."        # Pixazo needs a motion preset on every clip
```
"""

from __future__ import annotations

from typing import Any

from videogw import hookimpl

from .provider import PixazoOptions, PixazoProvider, PixazoSettings

__all__ = ["PixazoOptions", "PixazoProvider", "PixazoSettings", "register_providers"]


@hookimpl
def register_providers(register: Any) -> None:
    register(PixazoProvider)
