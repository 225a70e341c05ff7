"""Shared server-rendered page helpers: labels and Jinja environment."""
