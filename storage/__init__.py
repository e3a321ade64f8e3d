"""Persistence: SQLAlchemy 2 typed models, the engine/session factory, repositories, migrations."""

from storage.db import Database

__all__ = ["Database"]
