"""The journal: every cable, delivery and transmission in SQLite, and the read queries of the read-outs."""
