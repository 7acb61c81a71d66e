"""Paperboy's benchmark suite: `make bench` (or `python -m bench`), results appended to BENCHMARKS.md.

Every module measures one thing side by side with its baseline and returns ``Result`` rows."""
