"""Azure JSON ↔ domain values: the wire format of §2.6 and §3, shared by api/, web/ and cli/."""
