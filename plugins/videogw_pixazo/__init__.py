"""videogw provider plugin: pixazo (being written)."""
