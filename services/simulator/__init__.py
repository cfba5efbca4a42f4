"""A seeded, deterministic race generator: realistic timing logs for tests, demos and benchmarks."""
