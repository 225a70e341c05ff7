"""The pharmacy staff console: server-rendered pages under /console."""
