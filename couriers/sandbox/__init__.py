"""A runnable courier simulator speaking GoSend, GrabExpress, Lalamove and our local partner protocol, for demos
and end-to-end tests (run it with ``gancang sandbox --help``)."""

from __future__ import annotations

import uvicorn

from couriers.sandbox.app import create_app
from couriers.sandbox.config import Fault, Rule, SandboxConfig, ScenarioName
from couriers.sandbox.engine import SCENARIOS


def serve(host: str, port: int, config: SandboxConfig) -> None:
    """Run the sandbox in the foreground until interrupted."""
    uvicorn.run(create_app(config), host=host, port=port, log_level="info")


__all__ = ["SCENARIOS", "Fault", "Rule", "SandboxConfig", "ScenarioName", "create_app", "serve"]
