"""videogw provider plugin: higgsfield (being written)."""
