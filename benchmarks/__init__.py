"""Benchmarks: `make benchmarks` (or `.venv/bin/python -m benchmarks`) prints the figures the issues ask for."""
