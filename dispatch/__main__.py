"""`python -m dispatch` is the `gancang` command, for processes started without the console script."""

from dispatch.cli import app

app()
