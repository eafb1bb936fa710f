"""The records thinkstream keeps in Redis, each written by one module here: jobs and their
queues, batches, files. Gateway and workers call these; nothing else writes the records."""
