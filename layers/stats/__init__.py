"""Dispatcher analytics over incidents: heat cells, heat tiles, per-grid rates, hot spots, weeks.

Everything here reads the ``incidents`` table (never writes it) through the same two gates:

* **who** — :data:`layers.stats.filters.STATS_ROLES` (admin, street_admin, community_admin,
  planner, dispatcher); grid workers and department handlers get no analytics;
* **which rows** — :func:`layers.scope.area_filter` for ``incidents`` (the user's area), then the
  request's filters (:class:`layers.stats.filters.StatsFilter`: bbox, time window, categories,
  statuses).

Modules: :mod:`.filters` (validation, the WHERE clause), :mod:`.cells` (square/hexagon cells in
metres as GeoJSON and as MVT tiles, live or from the monthly rollup), :mod:`.grids` (counts per
current grid per 100 households, Getis-Ord Gi* hot spots), :mod:`.series` (ISO-week series).
See docs/STATISTICS.md for the choices (metric CRS, rollup, edge rules).
"""
