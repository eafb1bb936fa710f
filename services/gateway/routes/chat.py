"""`/v1/chat/completions`: OpenAI's and DeepSeek's chat API, reasoning in `reasoning_content`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sse_starlette import EventSourceResponse

from services.gateway.deps import ChatDep, JobsDep
from services.gateway.streams import stream_slot
from shared.chat_api import ChatCompletion, ChatCompletionRequest
from shared.schemas import JobControlAccepted, JobControlRequest

router = APIRouter(prefix="/v1", tags=["chat"])

PING_S = 15
"""A comment line this often keeps proxies from closing a stream that waits in the queue."""
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid request: the message says which field and what to fix"},
    404: {"description": "Unknown model"},
    413: {"description": "The latest user turn alone does not fit the context window"},
    429: {"description": "Too many questions waiting; retry after `Retry-After` seconds"},
}


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    dependencies=[Depends(stream_slot)],
    responses={**_ERRORS, 200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE chunks if stream"}},
)
async def chat_completions(body: ChatCompletionRequest, chat: ChatDep) -> ChatCompletion | EventSourceResponse:
    """Answer a conversation. With `stream: true` the reply comes as `chat.completion.chunk`
    events, reasoning first (`delta.reasoning_content`) then the answer (`delta.content`),
    ending with `data: [DONE]`. Earlier assistant turns lose their reasoning before the model
    sees them; the oldest turns are left out if the conversation does not fit the context."""
    try:
        job = await chat.start(body)
    except ValidationError as exc:  # conversation rules checked when building the job
        raise RequestValidationError(exc.errors(include_url=False)) from exc
    if body.stream:
        return EventSourceResponse(
            chat.stream(job, include_usage=body.include_usage),
            ping=PING_S,
            sep="\n",
            headers={"X-Thinkstream-Job": job.accepted.id},
        )
    return await chat.complete(job)


CompletionId = Annotated[
    str,
    Path(pattern=r"^chatcmpl-[0-9a-f]{32}$", description="The `id` of the completion (or of its chunks)"),
]


@router.post(
    "/chat/completions/{completion_id}/control",
    status_code=202,
    response_model=JobControlAccepted,
    responses={
        400: {"description": "Not a control: the message lists the actions"},
        404: {"description": "No such completion"},
        409: {"description": "The completion has no reasoning left to end"},
    },
)
async def control_completion(completion_id: CompletionId, body: JobControlRequest, jobs: JobsDep) -> JobControlAccepted:
    """The live control of `POST /v1/jobs/{id}/control` for a completion still being written,
    by the `id` of its chunks: `{"action": "end_reasoning"}` closes the reasoning at the next
    token and the answer follows in the same stream."""
    job_id = completion_id.removeprefix("chatcmpl-")
    status = await jobs.control(job_id, body.action)
    return JobControlAccepted(id=completion_id, action="end_reasoning", status=status)
