"""Wire shapes shared by hub, daemon and CLI. Imports nothing else of ours."""

PROTOCOL_VERSION = 3
# Sent by our daemon on agent API calls whose reply differs for the public agent (approval rules).
PROTOCOL_HEADER = "X-Orchestratia-Protocol"
