"""specboard's core: result schema, store, candidates, offline data cache, CLI."""
