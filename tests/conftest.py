from __future__ import annotations

import os
import tempfile

# Installed plugins must not leak into tests that build their own registries; tests that
# check entry-point discovery build a Registry(autoload=True) explicitly.
os.environ.setdefault("VIDEOGW_DISABLE_PLUGIN_AUTOLOAD", "1")
# A gateway built without a store opens the ledger of LedgerConfig; tests must never write
# to the user's data directory, so they get an in-memory one unless they pass tmp_path.
os.environ.setdefault("VIDEOGW_LEDGER", "memory")
# The CLI looks for videogw.toml in the user config directory: never the developer's own.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="videogw-test-config-")
