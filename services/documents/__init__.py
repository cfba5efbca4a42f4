"""Official documents: the PDFs and the chronological analysis a series publishes after a session (pure), and the
service that regenerates them when results are declared."""
