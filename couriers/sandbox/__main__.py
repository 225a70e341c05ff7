"""Command line for the sandbox, so a demo needs no Python: ``python -m couriers.sandbox --webhook-url …``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import get_args

from couriers.sandbox import SandboxConfig, ScenarioName, serve


def parse_args(argv: Sequence[str] | None = None) -> tuple[str, int, SandboxConfig]:
    defaults = SandboxConfig()
    parser = argparse.ArgumentParser(prog="python -m couriers.sandbox", description="GoSend sandbox courier")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--client-id", default=defaults.client_id)
    parser.add_argument("--pass-key", default=defaults.pass_key)
    parser.add_argument("--webhook-url", help="where to POST booking events; none are sent when omitted")
    parser.add_argument("--webhook-header", default=defaults.webhook_header)
    parser.add_argument("--webhook-token", default=defaults.webhook_token)
    parser.add_argument("--step-delay", type=float, default=defaults.step_delay_seconds)
    parser.add_argument("--scenario", choices=get_args(ScenarioName), default=defaults.default_scenario)
    parser.add_argument("--duplicate-events", action="store_true", help="send every webhook twice")
    parser.add_argument("--shuffle", action="store_true", help="send the last two webhooks out of order")
    args = parser.parse_args(argv)
    config = SandboxConfig(
        client_id=args.client_id,
        pass_key=args.pass_key,
        webhook_url=args.webhook_url,
        webhook_header=args.webhook_header,
        webhook_token=args.webhook_token,
        step_delay_seconds=args.step_delay,
        default_scenario=args.scenario,
        duplicate_events=args.duplicate_events,
        shuffle=args.shuffle,
    )
    return args.host, args.port, config


def main(argv: Sequence[str] | None = None) -> None:
    host, port, config = parse_args(argv)
    serve(host, port, config)


if __name__ == "__main__":
    main()
