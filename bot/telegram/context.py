"""A typed callback context: handlers reach the services and the sender's identity through it."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackContext, ExtBot

from app.respond import Identity
from app.services import Services


class AuditContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """CallbackContext with the bot's services."""

    @property
    def services(self) -> Services:
        """Database, translations and pseudonyms, created at start."""
        services: Services = self.bot_data["services"]
        return services

    def identity(self, update: Update) -> Identity:
        """The sender as a pseudonym (answers) and a chat id (invitations only)."""
        user = update.effective_user
        chat = update.effective_chat
        assert user is not None
        return Identity(
            pseudonym=self.services.pseudonyms.of("tg", user.id),
            chat_id=chat.id if chat else None,
            update_id=update.update_id,
        )


AuditApplication = Application[
    ExtBot[None], AuditContext, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any
]
