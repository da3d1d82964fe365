"""Sealed segments of the journal, keys and enrolment, the blind system of
record (SoR) server, the sync client, blob stores and litestream supervision."""
