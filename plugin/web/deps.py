"""The loaded plugin, the settings and the chart sessions as FastAPI dependencies, so no door reaches into another."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from plugin.config import Settings
from plugin.core.answer.plugin import Plugin
from plugin.web.sessions import SessionStore


async def get_plugin(request: Request) -> Plugin:
    plugin: Plugin = request.app.state.plugin
    return plugin


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


PluginDep = Annotated[Plugin, Depends(get_plugin)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_sessions(request: Request) -> SessionStore:
    sessions: SessionStore = request.app.state.sessions
    return sessions


SessionsDep = Annotated[SessionStore, Depends(get_sessions)]
