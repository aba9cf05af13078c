"""Response shapes of the address endpoints that other software reads (Nominatim format)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class NominatimPlace(BaseModel):
    """One result in the shape of Nominatim's ``/search?format=json`` (map search controls)."""

    place_id: int = Field(description="The building id")
    licence: str = "Wangge address register"
    osm_type: str = "way"
    lat: str = Field(description="Latitude, degrees (WGS-84), as text like Nominatim")
    lon: str = Field(description="Longitude, degrees (WGS-84), as text like Nominatim")
    display_name: str
    boundingbox: list[str] = Field(description="[min lat, max lat, min lon, max lon] as text")
    category: str = "building"
    type: str = Field(description="building kind, or 'house' when a room was matched")
    importance: float = Field(description="The search score")
    grid_code: str | None = None
