"""Registries of buildings, houses, households, persons, care groups, visits, tenancies, places."""
