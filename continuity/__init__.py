"""Continuity mode (not built yet): online → degraded → isolated → recovery,
the outbox and back-office connectors, offline numbering ranges,
reconciliation and the incident journal."""
