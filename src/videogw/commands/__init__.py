"""The `videogw` command's commands, grouped by kind; `videogw.cli` assembles them."""
