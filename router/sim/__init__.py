"""Simulation drivers: addressee posts, generated traffic, replays of real traffic, scenarios and the demo."""
