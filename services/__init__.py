"""The deployable parts of chequered: each a thin I/O shell around a pure core."""
