"""Spatial helpers shared by the layers: coordinate systems, geometry checks, assignment."""
