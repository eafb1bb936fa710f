"""Hard input limits that are part of the API contract (the schemas enforce them)."""

MAX_PROMPT_CHARS = 100_000
MAX_MESSAGES = 256
MAX_TOKENS_LIMIT = 131_072
MAX_STOP_SEQUENCES = 4
MAX_STOP_CHARS = 256
MAX_SAMPLES = 8
MAX_REVISIONS = 3
