"""Inbox: every inbound message stored raw before it is parsed, so nothing is ever lost."""
