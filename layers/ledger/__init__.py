"""Ledgers (台账): import from and export to CSV and XLSX with Chinese headers.

Entry points: :func:`layers.ledger.service.import_ledger` and
:func:`layers.ledger.service.export_ledger`; the command line is :mod:`layers.ledger.cli`.
The design, the header variants and the report are described in docs/LEDGER.md.
"""
