"""The seeded race generator (pure core)."""
