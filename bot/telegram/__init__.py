"""The Telegram adapter: the only place that imports `telegram`."""
