"""Benchmarks: they print figures and check the result's correctness; they never assert timings."""
