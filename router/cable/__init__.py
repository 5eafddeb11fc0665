"""The cable format: ACP 127/126 headings, addressees, security marks and text fields, read (pure)."""
