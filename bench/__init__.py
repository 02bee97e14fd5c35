"""Benchmarks: every figure is a ratio against a floor measured in the same run.

`make bench` (or `python -m bench --help`) starts its own moto server, runs each section,
prints a table and writes `bench/out/latest.json`. See docs/BENCHMARKS.md.
"""
