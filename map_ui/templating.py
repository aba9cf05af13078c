"""Our Jinja2 environment (autoescape on), and the rules for where a page may send a user next."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, urlsplit

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from map_ui.assets import static_url, vendor_url

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

DEFAULT_NEXT = "/map/"

# Characters that browsers strip or reinterpret inside URLs: "/\t/evil.example" becomes
# "//evil.example" and "/\\evil.example" is read as "//evil.example" by WHATWG URL parsers.
_UNSAFE_IN_NEXT = re.compile(r"[\x00-\x20\x7f\\]")


def make_templates() -> Jinja2Templates:
    """Templates with autoescape always on (not only for .html) and strict undefined names."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static_url"] = static_url
    env.globals["vendor_url"] = vendor_url
    return Jinja2Templates(env=env)


def safe_next(value: str | None, default: str = DEFAULT_NEXT) -> str:
    """A same-site relative path to continue to after login, else ``default`` (no open redirect).

    Accepted: ``/map/``, ``/map/?grid=1#x``. Refused: absolute URLs, scheme-relative ``//host``,
    backslashes, whitespace and control characters, and the login page itself (a loop).
    """
    if not value or len(value) > 2000 or not value.startswith("/"):
        return default
    if value.startswith("//") or _UNSAFE_IN_NEXT.search(value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    if parts.path == "/login" or parts.path.startswith("/auth/"):
        return default
    return value


def login_url(next_path: str) -> str:
    """The login page URL that returns to ``next_path`` afterwards."""
    # Slashes stay readable (/login?next=/map/); "?", "&", "#" and the rest are percent-encoded.
    return "/login?next=" + quote(safe_next(next_path), safe="/")
