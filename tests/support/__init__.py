"""Test helpers: a real stack (redis-server, gateway, workers) as child processes."""
