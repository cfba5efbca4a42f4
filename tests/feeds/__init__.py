"""Tests of the timing-feed adapters (RMonitor, Al Kamel)."""
