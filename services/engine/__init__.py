"""The model adapter shared by the gateway (vocabulary only, to count prompt tokens) and the
inference worker (the full model). It is a library, not a service: it holds no Redis code."""
