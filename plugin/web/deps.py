"""The loaded plugin, the settings and the chart sessions as FastAPI dependencies, so no door reaches into another."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from plugin.config import Settings
from plugin.core.answer.plugin import Plugin
from plugin.web.evidence_switch import EvidenceSwitch
from plugin.web.sessions import SessionStore


def plugin_of(request: Request) -> Plugin:
    """The plugin this request uses from its start to its end: the release served when it first asked, kept for it
    (in the request's state) even when the service switches releases before it is answered."""
    pinned: Plugin | None = getattr(request.state, "plugin", None)
    if pinned is None:
        switch: EvidenceSwitch = request.app.state.evidence
        pinned = request.state.plugin = switch.plugin
    return pinned


async def get_plugin(request: Request) -> Plugin:
    return plugin_of(request)


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


PluginDep = Annotated[Plugin, Depends(get_plugin)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_sessions(request: Request) -> SessionStore:
    sessions: SessionStore = request.app.state.sessions
    return sessions


SessionsDep = Annotated[SessionStore, Depends(get_sessions)]
