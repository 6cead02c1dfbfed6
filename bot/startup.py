"""The composition root: the application's services, plus the parts only the adapters know.

`app/services.py` migrates and loads what every use case needs; here the background tasks'
health (bot/health.py) and, on SQLite, the batched answer path (bot/hotpath.py) are plugged
in. They are injected rather than imported by the application layer, so app/ never imports
bot/ and the answer path has no import cycle (bot/hotpath.py imports app/respond.py).
"""

from __future__ import annotations

from app.config import Settings
from app.services import Services, start_application
from bot.health import Health
from bot.hotpath import AnswerBatcher


async def start_services(settings: Settings, *, load_default_catalog: bool = True) -> Services:
    """Start the application and plug in the adapters' health and the SQLite answer batcher."""
    services = await start_application(settings, load_default_catalog=load_default_catalog)
    services.health = Health()
    if services.db.is_sqlite:
        services.batcher = AnswerBatcher(services)
    return services
