"""The models this gateway serves, and which live workers hold each.

A model is known from the settings (`THINKSTREAM_MODELS`, a models file, or the single-model
settings) or from a live worker's declaration. The gateway counts a model's prompt tokens with
that model's own vocabulary and template: configured models load theirs at start-up, a model
only a worker declares loads it from the file the worker names, on its first request.

Requests name a model by its name or an alias, or `MODEL:ADAPTER` for one of its LoRA adapters
(a `lora` field like llama-server's does the same). A name nobody serves is a 404; a configured
model with no live worker is still accepted (a worker may be starting), and `UnservedJobs` fails
its jobs after `model_wait_s`.

Requests route by a view of the live workers that a background task reads every
`VIEW_REFRESH_S` (`run`), not by a read of their heartbeats per request (two Redis round trips
and a parse of every worker's declaration: a millisecond of the 5-8 that accepting a job takes).
The view is at most twice that old, where the heartbeats it reads are up to
`THINKSTREAM_WORKER_TTL_S` old anyway; a name the view does not know is looked up live before it
is refused, so a model whose worker has just come up is found at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from redis.asyncio import Redis as AsyncRedis

from services.engine.exceptions import ModelLoadError
from services.gateway.exceptions import ModelNotFound, ModelUnavailable
from services.gateway.periodic import every
from services.gateway.tokens import PromptCounter
from services.runtime.heartbeat import LiveWorker, inference_workers_async
from shared.chat_api import LoraRequest, ModelCard
from shared.exceptions import UnsupportedParameter
from shared.models import LoraChoice, ModelSpec
from shared.schemas import ChatMessage
from shared.settings import Settings

log = logging.getLogger(__name__)

VIEW_REFRESH_S = 0.5
"""How often the gateway reads the live workers that requests route by."""

CounterFactory = Callable[[ModelSpec], PromptCounter]


@dataclass
class ServedModel:
    """One model as the gateway knows it."""

    spec: ModelSpec
    configured: bool
    """False for a model known only from a live worker's declaration."""
    workers: list[LiveWorker] = field(default_factory=list)
    """Its live workers, as last read."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def adapters(self) -> list[str]:
        names = [adapter.name for adapter in self.spec.adapters]
        for worker in self.workers:
            declared = worker.declaration.adapters if worker.declaration else []
            names += [name for name in declared if name not in names]
        return names

    def adapter_scale(self, name: str) -> float:
        adapter = self.spec.adapter(name)
        return adapter.scale if adapter is not None else 1.0


@dataclass(frozen=True)
class Route:
    """Where a request goes: a model (its counter counts the prompt), maybe one of its adapters."""

    model: ServedModel
    counter: PromptCounter
    adapter: LoraChoice | None
    requested: str
    """The name the client used (echoed in responses, as OpenAI does)."""

    @property
    def pool(self) -> str:
        return self.model.name


class ModelDirectory:
    def __init__(self, settings: Settings, redis: AsyncRedis, counters: CounterFactory) -> None:
        self._settings = settings
        self._redis = redis
        self._counters = counters
        self._configured = list(settings.catalog)
        self._loaded: dict[str, PromptCounter] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._created = int(time.time())
        self._routed: set[str] = set()
        self.default = self._configured[0].name
        self._view: tuple[float, list[ServedModel]] | None = None
        """When the background task last read the served models, and what it read."""

    def pools(self) -> set[str]:
        """The models whose queues this gateway fills: the configured ones and any it routed to."""
        return {spec.name for spec in self._configured} | self._routed

    async def load(self) -> None:
        """Load every configured model's vocabulary (at start-up: a missing file stops the
        gateway with its name, rather than failing requests later)."""
        for spec in self._configured:
            self._loaded[spec.name] = await anyio.to_thread.run_sync(self._counters, spec)

    async def live_workers(self) -> list[LiveWorker]:
        """The live inference workers, read now."""
        return await inference_workers_async(self._redis, self._settings.worker_ttl_s)

    async def served(self) -> list[ServedModel]:
        """Every model: the configured ones in order, then those only live workers declare."""
        workers = await self.live_workers()
        models = {spec.name: ServedModel(spec, configured=True) for spec in self._configured}
        for worker in workers:
            model = models.get(worker.model)
            if model is None and worker.declaration is not None:
                spec = ModelSpec(
                    name=worker.declaration.name,
                    path=Path(worker.declaration.file),
                    aliases=worker.declaration.aliases,
                )
                model = models[worker.model] = ServedModel(spec, configured=False)
            if model is not None:
                model.workers.append(worker)
        return list(models.values())

    async def models(self) -> list[ModelCard]:
        """`/v1/models`: each model with its live workers, context size and aliases, then each
        alias (with `parent`) and each adapter as `MODEL:ADAPTER`."""
        cards = []
        for model in await self.served():
            counter = self._loaded.get(model.name)
            declared = next((w.declaration for w in model.workers if w.declaration is not None), None)
            n_ctx = counter.n_ctx if counter is not None else declared.n_ctx if declared else model.spec.n_ctx
            family = getattr(counter, "family", None) or (declared.family if declared else None)
            card = ModelCard(
                id=model.name,
                created=self._created,
                workers=len(model.workers),
                n_ctx=n_ctx,
                aliases=[alias for alias in model.spec.aliases if alias != model.name],
                adapters=model.adapters,
                family=family or None,
            )
            cards.append(card)
            # Each alias too, as before: clients that offer only the listed names can pick it.
            for alias in card.aliases:
                cards.append(card.model_copy(update={"id": alias, "aliases": [], "parent": model.name}))
            for adapter in model.adapters:
                cards.append(
                    ModelCard(
                        id=f"{model.name}:{adapter}",
                        created=self._created,
                        workers=len(model.workers),
                        n_ctx=n_ctx,
                        parent=model.name,
                    )
                )
        return cards

    async def run(self) -> None:
        """Keep the view requests route by fresh (a background task of the gateway). A view
        that could not be read ages out, and requests read live meanwhile."""
        await every(VIEW_REFRESH_S, self._refresh_view, "the live workers")

    async def _refresh_view(self) -> None:
        self._view = (time.monotonic(), await self.served())

    async def resolve(self, requested: str | None, lora: Sequence[LoraRequest] | None = None) -> Route:
        """The route of a request's `model` (and `lora`); raises `ModelNotFound` for a name nobody
        serves, `UnsupportedParameter` for a `lora` that names no adapter of the model."""
        view = self._view
        if view is not None and time.monotonic() - view[0] <= 2 * VIEW_REFRESH_S:
            try:
                return await self._resolve(view[1], requested, lora)
            except (ModelNotFound, UnsupportedParameter):
                pass  # perhaps a worker that came up since the view was read: look again, live
        return await self._resolve(await self.served(), requested, lora)

    async def _resolve(
        self, served: list[ServedModel], requested: str | None, lora: Sequence[LoraRequest] | None
    ) -> Route:
        name = requested or self.default
        model, adapter = _find(served, name), None
        if model is None and ":" in name:
            base, _, adapter_name = name.rpartition(":")
            model = _find(served, base)
            if model is not None and adapter_name not in model.adapters:
                raise ModelNotFound(name, [m.name for m in served], adapters=model.adapters, base=model.name)
            if model is not None:
                adapter = LoraChoice(name=adapter_name, scale=model.adapter_scale(adapter_name))
        if model is None:
            raise ModelNotFound(name, [m.name for m in served])
        if lora:
            adapter = _lora_choice(model, lora, adapter)
        self._routed.add(model.name)
        return Route(model=model, counter=await self._counter(model), adapter=adapter, requested=name)

    def warm_up(self) -> None:
        """Render a short conversation with each loaded model's template, so that the first
        request does not pay for the template's first render."""
        for counter in self._loaded.values():
            counter.count([ChatMessage(role="user", content="Hello")])

    def counter_of(self, name: str) -> PromptCounter | None:
        return self._loaded.get(name)

    async def _counter(self, model: ServedModel) -> PromptCounter:
        counter = self._loaded.get(model.name)
        if counter is not None:
            return counter
        lock = self._locks.setdefault(model.name, asyncio.Lock())
        async with lock:
            if model.name not in self._loaded:
                try:
                    loaded = await anyio.to_thread.run_sync(self._counters, model.spec)
                except ModelLoadError as exc:
                    raise ModelUnavailable(
                        f"the gateway cannot read the model {model.name!r} ({exc}) to count prompt tokens: "
                        "mount its file on the gateway at the same path, or list it in THINKSTREAM_MODELS"
                    ) from exc
                log.info("loaded the vocabulary of %s, which a worker declared, from %s", model.name, model.spec.path)
                self._loaded[model.name] = loaded
        return self._loaded[model.name]


def _find(served: list[ServedModel], name: str) -> ServedModel | None:
    for model in served:
        if name == model.name or name in model.spec.aliases:
            return model
    for model in served:  # a worker's own aliases, for a model the settings do not list
        if any(w.declaration and name in w.declaration.aliases for w in model.workers):
            return model
    return None


def _lora_choice(model: ServedModel, lora: Sequence[LoraRequest], named: LoraChoice | None) -> LoraChoice | None:
    """llama-server's `lora`: `[{"id": N, "scale": S}]`, ids in the order GET /v1/models lists
    the model's adapters (or `"name"` instead of `"id"`); an adapter not listed is off. One
    adapter per request."""
    adapters = model.adapters
    chosen: list[LoraChoice] = []
    for entry in lora:
        if entry.name is not None:
            name = entry.name
        elif entry.id is not None and 0 <= entry.id < len(adapters):
            name = adapters[entry.id]
        else:
            raise UnsupportedParameter("lora", f"model {model.name!r} has adapters {_ids(adapters)}: no id {entry.id}")
        if name not in adapters:
            raise UnsupportedParameter("lora", f"model {model.name!r} has adapters {_ids(adapters)}: no {name!r}")
        scale = model.adapter_scale(name) if entry.scale is None else entry.scale
        if scale > 0:
            chosen.append(LoraChoice(name=name, scale=scale))
    if len(chosen) > 1:
        raise UnsupportedParameter("lora", "one adapter per request: give the others scale 0 or leave them out")
    if named is not None and chosen and chosen[0].name != named.name:
        raise UnsupportedParameter("lora", f"the model names adapter {named.name!r} and lora another: send one")
    return chosen[0] if chosen else named


def _ids(adapters: list[str]) -> str:
    return ", ".join(f"{index}={name!r}" for index, name in enumerate(adapters)) or "none"
