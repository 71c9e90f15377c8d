"""WebSocket close codes (4000-4999 are application-defined)."""

from enum import IntEnum


class CloseCode(IntEnum):
    AUTH_TIMEOUT = 4000
    PROTOCOL_ERROR = 4002
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    REPLACED = 4409
    IDLE_TIMEOUT = 4408
    GOING_AWAY = 1001
    TRY_AGAIN = 1013  # a passing failure on our side: reconnect and resend from the acks
