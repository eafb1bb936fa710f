"""Compatibility runs against real client front ends (kept out of `make test`)."""
