"""`/v1/models`: the models this deployment serves, their live workers and adapters."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.deps import ModelsDep
from shared.chat_api import ModelList

router = APIRouter(prefix="/v1", tags=["chat"])


@router.get("/models", response_model=ModelList)
async def list_models(models: ModelsDep) -> ModelList:
    """Each model with its live workers, context size, aliases and template family, then each of
    its aliases and LoRA adapters (`MODEL:ADAPTER`) with `parent`. The first is the default model."""
    return ModelList(data=await models.models())
