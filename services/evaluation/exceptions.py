class EvaluationError(Exception):
    """Base of the evaluation harness's errors."""


class QuestionFileError(EvaluationError):
    """The question file is missing or a line is not a valid question."""


class UnknownMode(EvaluationError):
    """A mode name that is not in the table of modes."""


class GatewayUnavailable(EvaluationError):
    """The gateway does not answer or has no live inference worker."""


class AccessRefused(EvaluationError):
    """The gateway refused the API key (or the lack of one)."""
