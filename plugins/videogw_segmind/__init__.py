"""videogw provider plugin: segmind (being written)."""
