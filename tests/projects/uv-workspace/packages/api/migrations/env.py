"""alembic's environment: the API's own database URL and metadata."""

from __future__ import annotations

from alembic import context
from kitdemo_api.db import engine, metadata

with engine().connect() as connection:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
