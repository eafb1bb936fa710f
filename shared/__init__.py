"""Code shared by every thinkstream service: settings, message schemas and Redis names.

This package is a leaf: it imports the standard library and pydantic only.
"""
