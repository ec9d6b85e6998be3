"""Alembic migrations of the job database (run by ``orbot db upgrade``; see orbot/service/migrate.py)."""
