"""`thinkstream up | gateway | worker | postproc | ask`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from services.cli.batch import add_batch_parser, run_batch
from services.cli.eval import add_eval_parser, run_eval
from services.cli.gateway_client import add_gateway_arguments
from services.cli.keys import add_keys_parser, run_keys
from services.cli.pull import add_pull_parser, run_pull
from services.runtime.logs import configure_logging
from shared.models import parse_model_option
from shared.settings import Settings

_NO_AUTH_HELP = "listen on a non-loopback --host without API keys (THINKSTREAM_ALLOW_NO_AUTH=true)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="thinkstream", description="Reasoning models as a CPU service.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="start Redis (unless --redis-url), the gateway and the workers")
    up.add_argument("--host", default=None, help="gateway address (default 127.0.0.1)")
    up.add_argument("--port", type=int, default=None, help="gateway port (default 8000)")
    up.add_argument(
        "--workers", type=int, default=None, help="inference worker processes of a single model (default 1)"
    )
    up.add_argument(
        "--model",
        action="append",
        default=None,
        metavar="NAME=PATH[,workers=N]",
        help="serve this model (repeat for several; also n_ctx=N, alias=NAME, lora=NAME=PATH); "
        "the first is the default",
    )
    up.add_argument("--redis-url", default=None, help="use this Redis instead of starting one")
    up.add_argument("--insecure-no-auth", action="store_true", help=_NO_AUTH_HELP)

    gateway = sub.add_parser("gateway", help="run the HTTP gateway alone")
    gateway.add_argument("--redis-url", default=None)
    gateway.add_argument("--host", default=None)
    gateway.add_argument("--port", type=int, default=None)
    gateway.add_argument("--insecure-no-auth", action="store_true", help=_NO_AUTH_HELP)

    for name, text in (("worker", "run one inference worker"), ("postproc", "run one post-processing worker")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--redis-url", default=None)
        cmd.add_argument("--burst", action="store_true", help="exit when the queue is empty")
        if name == "worker":
            cmd.add_argument(
                "--model", default=None, metavar="NAME", help="the configured model to load (THINKSTREAM_WORKER_MODEL)"
            )

    ask = sub.add_parser("ask", help="ask a question and stream the reasoning and the answer")
    ask.add_argument("question")
    add_gateway_arguments(ask)
    ask.add_argument("--max-tokens", type=int, default=None)
    ask.add_argument("--max-reasoning-tokens", type=int, default=None)
    ask.add_argument("--temperature", type=float, default=None)
    ask.add_argument("--seed", type=int, default=None)
    check = sub.add_parser("check", help="check reasoning traces offline (JSONL in, verdicts out)")
    check.add_argument("input", help='JSONL file, one {"id", "question", "reasoning", "answer"} per line')
    check.add_argument("-o", "--output", default=None, help="write verdicts here (default: standard output)")
    add_eval_parser(sub)
    add_batch_parser(sub)
    add_keys_parser(sub)
    add_pull_parser(sub)
    return parser


def _check(args: argparse.Namespace) -> int:
    from services.postproc.offline import check_file

    try:
        summary = check_file(args.input, args.output)
    except FileNotFoundError:
        print(f"thinkstream check: no such file: {args.input}", file=sys.stderr)
        return 2
    for error in summary.errors:
        print(f"thinkstream check: {args.input}: {error}", file=sys.stderr)
    counts = ", ".join(f"{verdict} {count}" for verdict, count in sorted(summary.verdicts.items()))
    print(f"checked {summary.checked} trace(s): {counts or 'none'}", file=sys.stderr)
    return 1 if summary.errors else 0


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {
        key: value for key in ("redis_url", "host", "port") if (value := getattr(args, key, None)) is not None
    }
    if getattr(args, "insecure_no_auth", False):
        overrides["allow_no_auth"] = True
    model = getattr(args, "model", None)
    if args.command == "worker" and model is not None:
        overrides["worker_model"] = model
    if args.command == "up" and model:
        overrides["models"] = [parse_model_option(option) for option in model]
    return Settings(**overrides)  # type: ignore[arg-type]


def _refuse_open_listen(settings: Settings, command: str) -> int:
    """2 (after saying why) if the gateway must not start: its API keys are malformed, or it
    would listen beyond loopback without keys and without being told that is intended."""
    from services.gateway.auth import listen_refusal
    from shared.apikeys import ApiKeys
    from shared.exceptions import KeyConfigError

    try:
        keys = ApiKeys.from_settings(settings)
    except KeyConfigError as exc:
        print(f"thinkstream {command}: {exc}", file=sys.stderr)
        return 2
    refusal = listen_refusal(settings.host, keys, allow_no_auth=settings.allow_no_auth)
    if refusal is not None:
        print(f"thinkstream {command}: {refusal}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "ask":
        from services.cli.ask import ask

        return ask(args)
    if args.command == "check":
        return _check(args)
    if args.command == "eval":
        return run_eval(args)
    if args.command == "batch":
        return run_batch(args)
    if args.command == "keys":
        return run_keys(args)
    try:
        settings = _settings(args)
    except (ValidationError, ValueError) as exc:
        print(f"thinkstream: invalid setting: {exc}", file=sys.stderr)
        return 2
    if args.command == "pull":
        return run_pull(args, settings)
    configure_logging(settings.log_level, settings.log_format)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # `up` polls /readyz; one line per poll is noise
    if args.command in ("up", "gateway") and (refused := _refuse_open_listen(settings, args.command)):
        return refused
    if args.command == "up":
        from services.cli.up import up

        return up(settings, workers=args.workers)
    if settings.redis_url is None:
        print(f"thinkstream {args.command}: give --redis-url or set THINKSTREAM_REDIS_URL", file=sys.stderr)
        return 2
    from services.runtime.redis_client import connect

    if args.command == "gateway":
        from services.gateway.server import serve

        serve(settings)
        return 0
    redis = connect(settings.redis_url)
    if args.command == "worker":
        from services.inference.worker import run_worker

        run_worker(settings, redis, burst=args.burst)
    else:
        from services.postproc.worker import run_postproc

        run_postproc(settings, redis, burst=args.burst)
    return 0
