"""Beffroi's domain core: the event journal, projections and the démarches.

UI-free and framework-free: the TUI, the HTTP API, replication and the card
login all call into this package; it imports none of them.
"""
