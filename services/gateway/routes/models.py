"""`/v1/models`: the model this deployment serves, under each name clients may use."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.deps import ModelsDep
from shared.chat_api import ModelList

router = APIRouter(prefix="/v1", tags=["chat"])


@router.get("/models", response_model=ModelList)
async def list_models(models: ModelsDep) -> ModelList:
    """The served model (and its aliases), with the number of live workers serving it."""
    return ModelList(data=await models.models())
