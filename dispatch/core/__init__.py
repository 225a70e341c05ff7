"""Shared plumbing: settings, database, Celery, logging, security helpers."""
