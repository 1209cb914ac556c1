from __future__ import annotations

import os

# Installed plugins must not leak into tests that build their own registries; tests that
# check entry-point discovery build a Registry(autoload=True) explicitly.
os.environ.setdefault("VIDEOGW_DISABLE_PLUGIN_AUTOLOAD", "1")
