"""Ripcord: incident response and validated rollback for ML models in production, as code."""

from __future__ import annotations

__version__ = "0.1.0"
