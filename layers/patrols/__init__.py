"""Patrols (巡查): checklists, patrol records, due lists, coverage, failures → incidents."""
