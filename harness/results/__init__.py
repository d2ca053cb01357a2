"""The result rows: the versioned schema (:mod:`.schema`) and the JSONL store (:mod:`.store`,
reading through :mod:`.reader`)."""
