"""Gancang: medicine-delivery dispatch for Indonesian public hospitals."""
