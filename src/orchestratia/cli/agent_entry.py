"""``orchestratia-agent``: the daemon entry point, flag-compatible with the public agent."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from orchestratia.agent.config import AgentConfig, ConfigError, default_config_path
from orchestratia.agent.daemon import run, state_path_for
from orchestratia.agent.link.hub_tls import HubTlsError
from orchestratia.agent.link.registration import RegistrationError, register
from orchestratia.agent.link.secure_link import check_transport
from orchestratia.agent.metrics_server import ListenError
from orchestratia.cli.agent import configure_logging


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="orchestratia-agent", description=__doc__)
    parser.add_argument(
        "--register", metavar="TOKEN", help="register with a one-time token, then exit"
    )
    parser.add_argument("--config", type=Path, default=None, help="config file path")
    parser.add_argument("--name", default=None, help="server name when registering")
    parser.add_argument(
        "--ca-file", type=Path, default=None, help="private CA of the hub's certificate"
    )
    parser.add_argument(
        "--allow-insecure", action="store_true", help="allow plain http:// to another machine"
    )
    args = parser.parse_args(argv)
    path: Path = args.config or default_config_path()
    try:
        if args.register:
            config = asyncio.run(
                register(
                    args.register,
                    name=args.name,
                    config_path=path,
                    ca_file=args.ca_file,
                    allow_insecure=args.allow_insecure,
                )
            )
            config.save(path)
            print(f"registered {config.name} with {config.hub_url}; config in {path}")
            return
        config = AgentConfig.load(path)
        check_transport(config)
        configure_logging()
        asyncio.run(run(config, state_path_for(path)))
    except (RegistrationError, ConfigError, HubTlsError, ListenError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
