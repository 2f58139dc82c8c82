"""Fixtures: fixtures_vlm (to be filled)."""
