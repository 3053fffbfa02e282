"""Alembic environment: runs on the connection Ripcord hands over (see store/db.py)."""

from __future__ import annotations

from alembic import context

from ripcord.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` run by hand: build an engine from the URL
    from sqlalchemy import create_engine

    from ripcord.store.db import default_url

    connection = create_engine(default_url()).connect()

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
