"""The quality room: checks on each pair and its helpers (grounding, canonical forms, diversity, dedupe)."""

__all__ = []
