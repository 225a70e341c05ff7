"""Run Alembic from inside the package, so an installed `gancang` can migrate without the repo."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("dispatch") / "migrations"))
    return config


def upgrade_database(revision: str = "head") -> None:
    command.upgrade(alembic_config(), revision)
