"""ASGI entry point for uvicorn: `uvicorn dispatch.main:app`."""

from dispatch.app import create_app

app = create_app()
