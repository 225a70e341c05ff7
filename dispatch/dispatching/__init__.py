"""Dispatching: geocode, choose a courier, book, fall back, apply courier events."""
