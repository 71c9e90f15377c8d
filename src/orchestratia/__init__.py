"""Orchestratia: self-hostable mission control for fleets of AI coding agents."""

__version__ = "0.1.0"
