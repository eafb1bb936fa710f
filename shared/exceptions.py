"""Errors shared by the services."""


class ThinkstreamError(Exception):
    """Base of every thinkstream error."""


class JobNotFound(ThinkstreamError):
    """No job with that id exists (or it has expired)."""


class PromptTooLong(ThinkstreamError):
    """The prompt does not fit the context window with room to answer."""

    def __init__(self, prompt_tokens: int, max_prompt_tokens: int, n_ctx: int, reserved: int):
        self.prompt_tokens = prompt_tokens
        self.max_prompt_tokens = max_prompt_tokens
        self.n_ctx = n_ctx
        self.reserved = reserved
        super().__init__(
            f"the prompt has {prompt_tokens} tokens but at most {max_prompt_tokens} fit: the context "
            f"window is {n_ctx} tokens and {reserved} are reserved for the reply; shorten the prompt"
            " or lower max_tokens"
        )


class KeyConfigError(ThinkstreamError):
    """The configured API key hashes cannot be read (a malformed line, a missing file)."""


class UnsupportedParameter(ThinkstreamError):
    """A request parameter asks for something this server or model cannot do."""

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(f"{param}: {message}")


class PriorityNotAllowed(ThinkstreamError):
    """A request asked for a priority above its API key's ceiling."""

    def __init__(self, requested: str, ceiling: str) -> None:
        self.requested = requested
        self.ceiling = ceiling
        super().__init__(
            f"priority {requested!r} is above what this API key may ask for ({ceiling!r}); "
            f"send priority {ceiling!r} or lower, or ask the operator to raise the key's max_priority"
        )
