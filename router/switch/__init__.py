"""The switch: intake, routing, lines and receipts decided by a pure core, done on the bus and journal."""
