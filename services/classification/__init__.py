"""Classification: the fold (core) and the projector (shell)."""
