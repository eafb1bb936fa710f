"""The gateway under uvicorn, draining open streams on shutdown."""

from __future__ import annotations

import logging
from types import FrameType

import uvicorn
from sse_starlette.sse import AppStatus

from services.gateway.app import create_app
from services.gateway.connections import protocol_options
from services.gateway.drain import Drain
from shared.settings import Settings

logger = logging.getLogger(__name__)


class GatewayServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, drain: Drain) -> None:
        super().__init__(config)
        self.drain = drain

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.drain.started:
            logger.info(
                "draining: %d open connection(s) may finish for up to %s s",
                len(self.server_state.connections),
                self.config.timeout_graceful_shutdown,
            )
        self.drain.start()
        super().handle_exit(sig, frame)


def serve(settings: Settings) -> None:
    # sse-starlette would end every chat stream the moment a signal arrives; uvicorn's graceful
    # shutdown, bounded by THINKSTREAM_DRAIN_S, lets them finish instead.
    AppStatus.disable_automatic_graceful_drain()  # type: ignore[no-untyped-call]
    drain = Drain()
    config = uvicorn.Config(
        create_app(settings, drain=drain),
        host=settings.host,
        port=settings.port,
        timeout_keep_alive=settings.keep_alive_s,
        timeout_graceful_shutdown=settings.drain_s,
        **protocol_options(settings),
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's own and access lines go through our handler, not its own
    )
    GatewayServer(config, drain).run()
