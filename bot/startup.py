"""The composition root: the application's services, plus the parts only the adapters know.

`app/services.py` migrates and loads what every use case needs; here the background tasks'
health (bot/health.py) is plugged in. It is injected rather than imported by the application
layer, so app/ never imports bot/.
"""

from __future__ import annotations

from app.config import Settings
from app.services import Services, start_application
from bot.health import Health


async def start_services(settings: Settings, *, load_default_catalog: bool = True) -> Services:
    """Start the application and plug in the adapters' health."""
    services = await start_application(settings, load_default_catalog=load_default_catalog)
    services.health = Health()
    return services
