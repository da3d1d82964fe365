"""Textual apps: the counter (agents), the kiosk (citizens) and ops (IT staff).

Screens and widgets only: every action is a call into ``hub``.
"""
