"""RMonitor (MYLAPS Orbits scoreboard protocol): parser, capture reader and event mapper."""
