"""The simulated network: the network's clock, each post's line and what travels on a channel (pure)."""
