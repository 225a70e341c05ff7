"""Hospitals, their API keys and the courier accounts they enable."""
