"""Staff users, their sessions and roles."""
