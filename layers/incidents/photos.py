"""Photos of incidents: size limit, type sniffed from the bytes, content-addressed files.

The declared content type of an upload is ignored: the first bytes decide (``filetype``, magic
numbers) and only JPEG, PNG and WebP are kept. A file is stored once under
``IncidentSettings.photo_dir`` as ``<sha256>.<ext>``; the row in ``incident_photos`` records
who uploaded it and, once a report or step uses it, which incident and step it belongs to.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import filetype
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from layers.access import Principal
from layers.errors import InvalidInput, NotFound
from layers.incidents.settings import IncidentSettings
from layers.incidents.workflow import visible_incidents
from layers.models import Incident, IncidentPhoto

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


def sniff(data: bytes) -> str | None:
    """The media type by magic bytes, if it is one of :data:`EXTENSIONS`."""
    kind = filetype.guess(data[:262])
    if kind is None or kind.mime not in EXTENSIONS:
        return None
    return str(kind.mime)


def store_photo(
    session: Session,
    principal: Principal,
    *,
    data: bytes,
    settings: IncidentSettings,
    now: datetime,
) -> dict[str, Any]:
    """Check and store an uploaded photo; return its id, media type, size and digest."""
    if not data:
        raise InvalidInput("The file is empty", "文件为空", field="file")
    if len(data) > settings.photo_max_bytes:
        raise InvalidInput(
            f"The photo exceeds {settings.photo_max_bytes} bytes",
            f"照片超过 {settings.photo_max_bytes} 字节上限",
            field="file",
        )
    media_type = sniff(data)
    if media_type is None:
        raise InvalidInput(
            "Only JPEG, PNG and WebP photos are accepted",
            "仅支持 JPEG、PNG、WebP 格式的照片",
            field="file",
        )
    digest = hashlib.sha256(data).hexdigest()
    name = f"{digest}.{EXTENSIONS[media_type]}"
    directory = Path(settings.photo_dir)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    if not target.exists():
        tmp = directory / f".{name}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        tmp.replace(target)  # atomic: a reader never sees half a file
    photo_id = session.scalar(
        insert(IncidentPhoto)
        .values(
            sha256=digest,
            media_type=media_type,
            size_bytes=len(data),
            stored_name=name,
            uploaded_by=principal.user_id,
            uploaded_at=now,
        )
        .returning(IncidentPhoto.id)
    )
    return {"id": photo_id, "media_type": media_type, "size_bytes": len(data), "sha256": digest}


def read_photo(
    session: Session, principal: Principal, photo_id: int, settings: IncidentSettings
) -> tuple[bytes, str]:
    """The bytes and media type of a photo the principal may see (uploader, or incident scope)."""
    photo = session.get(IncidentPhoto, photo_id)
    visible = photo is not None and (
        (photo.incident_id is None and photo.uploaded_by == principal.user_id)
        or (
            photo.incident_id is not None
            and session.scalar(
                select(Incident.id).where(
                    Incident.id == photo.incident_id, visible_incidents(principal)
                )
            )
            is not None
        )
    )
    if photo is None or not visible:
        raise NotFound(f"Photo {photo_id} not found", f"未找到照片 {photo_id}", field="photo_id")
    path = Path(settings.photo_dir) / photo.stored_name
    if not path.is_file():
        raise NotFound("The photo file is missing", "照片文件缺失", field="photo_id")
    return path.read_bytes(), photo.media_type
