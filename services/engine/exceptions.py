class EngineError(Exception):
    """Base of the model adapter's errors."""


class ModelLoadError(EngineError):
    """The GGUF file could not be loaded."""


class ChatTemplateError(EngineError):
    """The model's chat template failed to render the conversation."""


class UnknownFamily(EngineError):
    """No model family has that name."""
