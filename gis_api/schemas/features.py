"""Response models of the OGC API Features metadata endpoints (items are GeoJSON built in SQL)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from layers.features import CRS84


class Link(BaseModel):
    """A hypermedia link (OGC API / RFC 8288)."""

    model_config = ConfigDict(extra="forbid")

    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class SpatialExtent(BaseModel):
    """Bounding box(es) in lon/lat degrees."""

    bbox: list[list[float]] = Field(description="[[minx, miny, maxx, maxy]] in CRS84")
    crs: str = CRS84


class Extent(BaseModel):
    """The extent of a collection."""

    spatial: SpatialExtent


class Collection(BaseModel):
    """One feature collection (a layer)."""

    id: str
    title: str = Field(description="English title")
    title_zh: str = Field(description="Chinese title (中文名称)")
    description: str
    links: list[Link]
    extent: Extent
    itemType: str = "feature"  # noqa: N815 (OGC member name)
    crs: list[str] = [CRS84]
    storageCrs: str = CRS84  # noqa: N815 (OGC member name)
    geometryType: str  # noqa: N815
    queryables: list[str] = Field(
        description="Query parameters of /items beside bbox, bbox-crs, limit and offset"
    )
    personalFields: list[str] = Field(  # noqa: N815
        description="Properties holding personal data: masked by role, every read audited"
    )


class Collections(BaseModel):
    """The list of feature collections."""

    collections: list[Collection]
    links: list[Link]


class Conformance(BaseModel):
    """The OGC conformance classes this API implements."""

    conformsTo: list[str]  # noqa: N815
