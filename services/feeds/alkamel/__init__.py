"""Al Kamel analysis CSV (the official WEC / ELMS lap chart) to chequered events."""
