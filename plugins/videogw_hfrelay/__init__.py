"""videogw provider plugin: hfrelay (being written)."""
