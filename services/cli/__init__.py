"""The `thinkstream` command: the entrypoint that builds settings and starts services."""
