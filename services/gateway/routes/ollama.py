"""Ollama's API (`/api/chat`, `/api/generate`, `/api/tags`, `/api/show`, `/api/version`): Ollama
clients work by pointing them at the gateway. Errors are `{"error": "message"}`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError

from services.gateway.deps import ChatDep, ModelsDep, SettingsDep
from services.gateway.ollama import ChatOrGenerate, OllamaService
from services.gateway.streams import stream_slot
from shared.ollama_api import ChatRequest, GenerateRequest, ModelList, ShowRequest, ShowResponse, Version

router = APIRouter(prefix="/api", tags=["ollama"])

NDJSON = "application/x-ndjson"


async def get_ollama(chat: ChatDep, models: ModelsDep, settings: SettingsDep) -> OllamaService:
    """Over the request's own view of the jobs (its API key's), like chat completions."""
    return OllamaService(chat, models, settings)


OllamaDep = Annotated[OllamaService, Depends(get_ollama)]


@router.post("/chat", dependencies=[Depends(stream_slot)], response_class=Response)
async def chat(body: ChatRequest, ollama: OllamaDep) -> Response:
    """Answer a conversation: NDJSON objects with `message.thinking` (the reasoning) and
    `message.content` (the answer) as they come, the last with `done: true` and the figures; or
    one object with `"stream": false`. `think: false` answers without reasoning."""
    if not body.messages:
        return Response(await ollama.loaded(body), media_type="application/json")
    return await _answer(body, ollama)


@router.post("/generate", dependencies=[Depends(stream_slot)], response_class=Response)
async def generate(body: GenerateRequest, ollama: OllamaDep) -> Response:
    """Answer one `prompt` (with an optional `system`): `thinking` and `response`."""
    if not body.prompt:
        return Response(await ollama.loaded(body), media_type="application/json")
    return await _answer(body, ollama)


async def _answer(body: ChatOrGenerate, ollama: OllamaService) -> Response:
    try:
        job = await ollama.start(body)
    except ValidationError as exc:  # conversation rules checked when building the job
        raise RequestValidationError(exc.errors(include_url=False)) from exc
    headers = {"X-Thinkstream-Job": job.accepted.id}
    if body.stream:
        return StreamingResponse(ollama.lines(body, job), media_type=NDJSON, headers=headers)
    return Response(await ollama.complete(body, job), media_type="application/json", headers=headers)


@router.get("/tags", response_model=ModelList)
async def tags(ollama: OllamaDep) -> ModelList:
    """The served model (and its aliases), named as Ollama names models (`name:latest`)."""
    return await ollama.tags()


@router.post("/show", response_model=ShowResponse)
async def show(body: ShowRequest, ollama: OllamaDep) -> ShowResponse:
    """What the model is: its details, context length and capabilities."""
    return await ollama.show(body.model)


@router.get("/version", response_model=Version)
async def version() -> Version:
    """The Ollama API version this gateway answers like."""
    return Version()
