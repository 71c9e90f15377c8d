"""The agent daemon: registers a server with a hub and keeps one WebSocket open to it.

Imports only ``orchestratia.protocol`` and third-party libraries, never the hub.
"""
