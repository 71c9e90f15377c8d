"""Every database column that holds a sealed secret (``hub.sealing``), in one list.

Key rotation walks this list, so a column missing from it would keep its values under a key
that ``rotate-keys --retire`` then deletes. A new sealed column (webhook secrets, bot tokens,
SSH keys) joins ``SEALED_COLUMNS`` and seals through its entry's ``aad``; a unit test refuses
a ``*_sealed``/``*_enc`` column that is not listed.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestratia.hub.sealing import sealed_for


@dataclass(frozen=True)
class SealedColumn:
    table: str
    column: str
    # The column naming the row in the associated data: the primary key, one per row.
    row_id: str = "id"

    @property
    def label(self) -> str:
        return f"{self.table}.{self.column}"

    def aad(self, row_id: str) -> bytes:
        """The associated data that binds a value of this column to row ``row_id``."""
        return sealed_for(self.table, self.column, row_id)


TOTP_SECRET = SealedColumn("users", "totp_secret_enc")
SMTP_PASSWORD = SealedColumn("mail_settings", "password_sealed", row_id="tenant_id")
WEBHOOK_SECRET = SealedColumn("webhook_endpoints", "secret_sealed")
WEBHOOK_PREVIOUS_SECRET = SealedColumn("webhook_endpoints", "previous_secret_sealed")
TELEGRAM_TOKEN = SealedColumn("telegram_bots", "token_sealed")
SSH_PRIVATE_KEY = SealedColumn("ssh_tunnels", "private_key_sealed")

SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    TOTP_SECRET,
    SMTP_PASSWORD,
    WEBHOOK_SECRET,
    WEBHOOK_PREVIOUS_SECRET,
    TELEGRAM_TOKEN,
    SSH_PRIVATE_KEY,
)
