"""Outbox: side effects written in the same transaction as the state change, relayed to Celery."""
