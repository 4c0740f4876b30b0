"""Helpers for tests and benchmarks: tiny real models built from small configs."""
