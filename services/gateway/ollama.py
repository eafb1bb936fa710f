"""Ollama's API on top of the chat machinery: a request becomes a chat completion request, and
the completion's chunks (or its one reply) become Ollama's NDJSON objects.

Nothing here runs a job itself: `ChatService` starts, follows and (when a streaming client goes
away) cancels it, exactly as for `/v1/chat/completions`.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from services.gateway.chat import ChatJob, ChatService, StreamError
from services.gateway.directory import ModelDirectory, Route, ServedModel
from services.gateway.exceptions import ModelNotFound, OllamaModelNotFound
from shared import ollama_api
from shared.chat_api import ChatCompletion, ChatCompletionChunk, ChatTimings, ChatUsage
from shared.ollama_api import (
    ChatRequest,
    ChatResponse,
    GenerateRequest,
    GenerateResponse,
    Metrics,
    ModelDetails,
    ModelEntry,
    ModelList,
    ResponseMessage,
    ShowResponse,
)
from shared.schemas import CheckReport
from shared.settings import Settings

NS_PER_MS = 1_000_000
ChatOrGenerate = ChatRequest | GenerateRequest


class OllamaService:
    def __init__(self, chat: ChatService, models: ModelDirectory, settings: Settings) -> None:
        self._chat = chat
        self._models = models
        self._settings = settings

    async def resolve(self, requested: str) -> Route:
        """The route of a request's `model` (`name` and `name:latest` are the same, as in
        Ollama); raises `OllamaModelNotFound`."""
        try:
            return await self._models.resolve(ollama_api.untagged(requested))
        except ModelNotFound as exc:
            served = [model.name for model in await self._models.served()]
            raise OllamaModelNotFound(requested, served) from exc

    async def start(self, body: ChatOrGenerate) -> ChatJob:
        """Queue the job (raises what chat completions raise, and `UnsupportedParameter`)."""
        route = await self.resolve(body.model)
        return await self._chat.start(body.to_chat_request(route.requested))

    async def loaded(self, body: ChatOrGenerate) -> str:
        """The answer to a request with nothing to answer (Ollama loads the model then): the
        model is always loaded here."""
        await self.resolve(body.model)
        if isinstance(body, ChatRequest):
            return ChatResponse(model=body.model, done=True, done_reason="load").line()
        return GenerateResponse(model=body.model, done=True, done_reason="load").line()

    async def lines(self, body: ChatOrGenerate, job: ChatJob) -> AsyncIterator[str]:
        """The NDJSON lines of a streaming reply: reasoning and answer as they come, then the
        last object with `done: true` and the figures; `{"error": ...}` if the job fails."""
        async with contextlib.aclosing(self._chat.chunks(job, include_usage=False)) as chunks:
            async for chunk in chunks:
                if isinstance(chunk, StreamError):
                    yield _error_line(chunk.message)
                    return
                line = self._line(body, chunk)
                if line is not None:
                    yield line + "\n"

    def _line(self, body: ChatOrGenerate, chunk: ChatCompletionChunk) -> str | None:
        if not chunk.choices:
            return None
        choice = chunk.choices[0]
        thinking, content = choice.delta.reasoning_content or "", choice.delta.content or ""
        if choice.finish_reason is not None:
            assert chunk.usage is not None and chunk.timings is not None  # the last chunk carries them
            job_id = chunk.thinkstream.job_id if chunk.thinkstream else None
            usage, timings = chunk.usage, chunk.timings
            return _reply(body, thinking, content, choice.finish_reason, usage, timings, chunk.check, job_id)
        if not (thinking or content):
            return None  # the opening role chunk, a revision's notice
        return _reply(body, thinking, content)

    async def complete(self, body: ChatOrGenerate, job: ChatJob) -> str:
        """The one JSON object of a non-streaming reply."""
        reply: ChatCompletion = await self._chat.complete(job)
        choice = reply.choices[0]
        return _reply(
            body,
            choice.message.reasoning_content,
            choice.message.content or "",
            choice.finish_reason,
            reply.usage,
            reply.timings,
            reply.check,
            reply.thinkstream.job_id,
        )

    async def tags(self) -> ModelList:
        """Every model, alias and adapter `/v1/models` lists, with its file's details."""
        served = {model.name: model for model in await self._models.served()}
        entries = []
        for card in await self._models.models():
            model = served.get(card.parent or card.id)
            if model is None:
                continue
            modified_at, size, digest = _file(model)
            entries.append(
                ModelEntry(
                    name=ollama_api.tagged(card.id),
                    model=ollama_api.tagged(card.id),
                    modified_at=modified_at,
                    size=size,
                    digest=digest,
                    details=_details(model),
                )
            )
        return ModelList(models=entries)

    async def show(self, requested: str) -> ShowResponse:
        route = await self.resolve(requested)
        name = route.model.name
        modified_at, _, _ = _file(route.model)
        n_ctx = route.counter.n_ctx
        return ShowResponse(
            modelfile=f"# served by thinkstream\nFROM {name}\nPARAMETER num_ctx {n_ctx}\n",
            parameters=f"num_ctx {n_ctx}",
            details=_details(route.model),
            model_info={"general.basename": name, "general.context_length": n_ctx},
            capabilities=["completion", "thinking"],
            modified_at=modified_at,
        )


def _file(model: ServedModel) -> tuple[str, int, str]:
    """The model's GGUF: its time, size and an identifier of it (name, size and time: hashing
    gigabytes for a listing is not worth it). Zeros when this gateway cannot see the file."""
    path = Path(model.spec.path)
    try:
        stat = path.stat()
    except OSError:
        return ollama_api.rfc3339(datetime.fromtimestamp(0, UTC)), 0, hashlib.sha256(path.name.encode()).hexdigest()
    moment = datetime.fromtimestamp(stat.st_mtime, UTC)
    digest = hashlib.sha256(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    return ollama_api.rfc3339(moment), stat.st_size, digest


def _details(model: ServedModel) -> ModelDetails:
    """What the file name tells (`...-1.5B-...Q4_K_M.gguf`); the rest is left empty."""
    name = Path(model.spec.path).name
    return ModelDetails(
        parameter_size=ollama_api.parameter_size(name), quantization_level=ollama_api.quantization_level(name)
    )


def _reply(
    body: ChatOrGenerate,
    thinking: str,
    content: str,
    finish_reason: str | None = None,
    usage: ChatUsage | None = None,
    timings: ChatTimings | None = None,
    check: CheckReport | None = None,
    job_id: str | None = None,
) -> str:
    """One object of a reply; the last (with a `finish_reason`) is `done` and has the figures."""
    metrics = None
    if usage is not None and timings is not None:
        metrics = Metrics(
            total_duration=round(timings.total_ms * NS_PER_MS),
            prompt_eval_count=usage.prompt_tokens,
            prompt_eval_duration=round(timings.prompt_ms * NS_PER_MS),
            eval_count=usage.completion_tokens,
            eval_duration=round(timings.predicted_ms * NS_PER_MS),
        )
    done = finish_reason is not None
    reason = None if not done else "length" if finish_reason == "length" else "stop"
    if isinstance(body, ChatRequest):
        return ChatResponse(
            model=body.model,
            message=ResponseMessage(content=content, thinking=thinking or None),
            done=done,
            done_reason=reason,
            metrics=metrics,
            check=check,
            job_id=job_id,
        ).line()
    return GenerateResponse(
        model=body.model,
        response=content,
        thinking=thinking or None,
        done=done,
        done_reason=reason,
        metrics=metrics,
        check=check,
        job_id=job_id,
    ).line()


def _error_line(message: str) -> str:
    return ollama_api.error_line(message) + "\n"
