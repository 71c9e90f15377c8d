"""What the hub tells other tools: the event outbox, webhooks, Telegram, notifications."""
