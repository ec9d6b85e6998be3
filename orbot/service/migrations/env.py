"""Alembic's entry point: migrate over the connection orbot hands it (orbot/service/migrate.py), never a URL
from a file, so the one setting ORBOT_DATABASE_URL stays the only place the database is named."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
