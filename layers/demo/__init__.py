"""Synthetic demo street 全福街道: a deterministic generator and a one-transaction loader.

* :func:`layers.demo.generate.generate` builds every table in memory (numpy/shapely arrays);
* :func:`layers.demo.load.load_demo` writes them with PostgreSQL COPY inside the caller's
  transaction and files buildings, places and incidents under grids with one set-based spatial
  UPDATE each (:func:`layers.demo.load.assign_to_grids`, i.e. ``assign_all``);
* :mod:`layers.demo.commands` is the ``wangge demo`` command group.

See data/README.md for provenance and docs/DEMO_USERS.md for the demo logins.
"""
