"""`ripcord gateway`: an HTTP reverse proxy in front of any model server, routed by the
same table as the in-process guard (serving version, canary, shadow, breaker, kill switch,
pause, disabled features, contract and guardrails), recording what it serves as inference
events. `create_process_gateway(sop_path, home=...)` builds the ASGI app `ripcord gateway`
serves; `create_gateway(rc)` one around a runtime the caller owns."""

from __future__ import annotations

from ripcord.gateway.app import REQUEST_ID, create_gateway, create_process_gateway

__all__ = ["REQUEST_ID", "create_gateway", "create_process_gateway"]
