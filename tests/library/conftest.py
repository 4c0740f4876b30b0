"""Fixtures for the library tests: the real small and read-only file systems of the fault tests."""

from faults.conftest import read_only, small_disk  # noqa: F401
