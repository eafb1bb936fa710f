"""Process plumbing shared by the RQ workers: liveness heartbeats and logging. A library, not a
service."""
