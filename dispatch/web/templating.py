"""One Jinja environment for every server-rendered page, autoescaped, with WIB time formatting."""

from __future__ import annotations

from importlib.resources import files

from fastapi.templating import Jinja2Templates

from dispatch.core.clock import format_wib
from dispatch.web.labels import status_label

templates = Jinja2Templates(
    directory=[
        str(files("dispatch") / "tracking" / "templates"),
        str(files("dispatch") / "console" / "templates"),
        str(files("dispatch") / "reports" / "templates"),
    ]
)
templates.env.filters["wib"] = format_wib
templates.env.globals["status_label"] = status_label
