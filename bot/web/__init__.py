"""The aiohttp server: Telegram webhook, coordinator dashboard, health and metrics."""
