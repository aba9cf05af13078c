"""Database engine lifecycle and the per-request session (one transaction per request)."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy.orm import Session


def get_session(request: Request) -> Iterator[Session]:
    """Yield a session inside one transaction: committed if the route succeeds, else rolled back.

    Used with ``Depends(..., scope="function")`` so the commit happens before the response is
    sent: a client never sees success for a change that failed to commit.
    """
    factory = request.app.state.sessionmaker
    with factory() as session, session.begin():
        yield session
