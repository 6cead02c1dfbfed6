"""Gettext catalogs (uk, ru, en, pl): messages.pot, <lang>/LC_MESSAGES/messages.po and .mo."""

from pathlib import Path

LOCALES_DIR = Path(__file__).parent
DOMAIN = "messages"
