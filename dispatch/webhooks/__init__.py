"""Courier status webhooks: authenticated on raw bytes, stored once per event, applied by a task."""
