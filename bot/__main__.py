"""`python -m bot` is the same as the `auditbot` command."""

from bot.cli import app

app()
