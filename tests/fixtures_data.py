"""Fixtures: fixtures_data (to be filled)."""
