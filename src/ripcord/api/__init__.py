"""The HTTP service (`ripcord serve`): FastAPI routes by domain around one runtime."""

from __future__ import annotations

from ripcord.api.app import create_app

__all__ = ["create_app"]
