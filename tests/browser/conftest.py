"""Fixtures of the browser tests: a committed world, a live uvicorn server, Debian's Chromium.

uvicorn serves the real app (its own sessions, real commits) in a background thread, so the
synthetic world must be committed here, unlike every other test: it is removed before (leftovers
of a crashed run) and after each module, together with any grid plan a test published on it.
Chromium is Debian's (``WANGGE_CHROMIUM``, default /usr/bin/chromium); if it is missing the tests
fail, they never skip.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from gis_api.main import create_app
from gis_api.settings import ApiSettings
from layers.settings import DatabaseSettings
from tests.browser.helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    Tab,
    recording_tab,
)
from tests.fixtures.world import build_world, remove_world


def _remove_plans(session: Session) -> None:
    """Plans on the world and what publishing them wrote (lineage, overrides, new versions)."""
    session.execute(
        text(
            "DELETE FROM grid_plans WHERE scope_unit_id IN "
            "(SELECT id FROM admin_units WHERE code LIKE '370199%')"
        )
    )
    session.execute(
        text(
            "DELETE FROM grid_lineage WHERE grid_id IN "
            "(SELECT id FROM grids WHERE code LIKE '370199%')"
        )
    )


def _remove_committed_world(engine: Engine) -> None:
    """Delete the committed world. Its audit rows stay: the log is append-only by design."""
    with Session(engine) as session, session.begin():
        _remove_plans(session)
        remove_world(session)


@pytest.fixture(scope="module")
def committed_world(engine: Engine) -> Iterator[None]:
    """The synthetic world, committed for the live server, removed afterwards."""
    _remove_committed_world(engine)
    with Session(engine) as session, session.begin():
        build_world(session)
    try:
        yield
    finally:
        _remove_committed_world(engine)


@pytest.fixture(scope="module")
def live_settings(api_settings: ApiSettings) -> ApiSettings:
    """Settings of the live server; a module overrides this to configure e.g. a basemap."""
    return api_settings


@pytest.fixture(scope="module")
def live_server(
    committed_world: None, live_settings: ApiSettings, db_settings: DatabaseSettings
) -> Iterator[str]:
    """The real app served by uvicorn on a free 127.0.0.1 port; yields its base URL."""
    app = create_app(live_settings, db_settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # the kernel picks a free port; uvicorn serves this socket
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the live uvicorn server did not start", pytrace=False)
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright; a missing browser is a failure, not a skip."""
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package "
            "(scripts/bootstrap.sh --browser) or set WANGGE_CHROMIUM to its path",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    """A fresh context and page that record requests, console errors and page errors."""
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", device_scale_factor=1)
    session = recording_tab(context)
    try:
        yield session
    finally:
        context.close()
