"""Wire shapes shared by hub, daemon and CLI. Imports nothing else of ours."""

PROTOCOL_VERSION = 2
