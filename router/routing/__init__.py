"""Routing decisions: the routing table and who gets each cable, at what precedence (pure)."""
