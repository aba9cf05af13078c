"""Grids: coverage, planning edits, codes, 四至 and sizing."""
