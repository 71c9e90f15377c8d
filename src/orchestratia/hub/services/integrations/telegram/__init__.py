"""A project's Telegram bot: settings, linking chats to people, notifications, and the updates
(taps, replies, commands) that come back."""
