"""Benchmarks: ``make bench`` (or ``python -m bench [NAME ...]``); tables on screen, JSON in bench/results/."""
