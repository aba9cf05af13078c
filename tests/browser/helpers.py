"""Shared pieces of the browser tests: Chromium settings, the Tab record, login and checks."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Request, ViewportSize, expect

from tests.fixtures.world import PASSWORD

VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
CHROMIUM = os.environ.get("WANGGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
TIMEOUT_MS = 20_000


@dataclass
class Tab:
    """One browser context (own cookies) with everything it requested and every error."""

    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def recording_tab(context: BrowserContext) -> Tab:
    """A new page of ``context`` that records every request, console error and page error."""
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    tab = Tab(page)

    def on_request(request: Request) -> None:
        tab.requests.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            tab.errors.append(f"console: {message.text} @ {message.location}")

    context.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: tab.errors.append(f"pageerror: {exc}"))
    return tab


def open_forbidden_page(tab: Tab, base: str, path: str, username: str) -> Page:
    """Log in as ``username`` on the way to ``path``; the page must be the Chinese 403 page, and
    nothing but that 403 may have been reported nor requested off the machine."""
    page = tab.page
    page.goto(f"{base}{path}")
    page.wait_for_url(f"{base}/login?next={path}")
    log_in(page, base, username)
    page.wait_for_url(f"{base}{path}")
    expect(page.locator("#wangge-forbidden")).to_contain_text("不能使用此页面")
    assert [e for e in tab.errors if "403" not in e] == []
    assert_only_local_requests(tab.requests)
    return page


def log_in(page: Page, base: str, username: str, password: str = PASSWORD) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")


def assert_only_local_requests(requests: list[str]) -> None:
    assert requests, "no requests were recorded"
    for url in requests:
        parts = urlsplit(url)
        if parts.scheme == "data":
            continue
        assert parts.scheme == "http" and parts.hostname == "127.0.0.1", f"off-host request {url}"


def assert_real_picture(path: Path) -> None:
    with Image.open(path) as image:
        assert image.size == (VIEWPORT["width"], VIEWPORT["height"])
        rgb = image.convert("RGB")
    colours = rgb.getcolors(maxcolors=VIEWPORT["width"] * VIEWPORT["height"])
    assert colours is not None
    # Several colours each covering a visible share of the picture, not one flat fill.
    total = rgb.width * rgb.height
    buckets: dict[tuple[int, int, int], int] = {}
    for count, pixel in colours:
        r, g, b = pixel  # type: ignore[misc]  # RGB pixels are tuples; Pillow types say float
        key = (r // 32, g // 32, b // 32)
        buckets[key] = buckets.get(key, 0) + count
    visible = [key for key, count in buckets.items() if count >= total * 0.001]
    assert len(visible) >= 8, f"only {len(visible)} colour groups: a blank or broken picture?"
    # The title bar is drawn in its blue across the top.
    assert rgb.getpixel((VIEWPORT["width"] // 2, 5)) == (0x1F, 0x4E, 0x9C)
