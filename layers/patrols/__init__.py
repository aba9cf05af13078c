"""Patrols (巡查): department checklists, patrol records, due lists, coverage, failures → incidents."""
