"""Protocol tools: ``trygg frame decode|encode``, the test vectors and representative messages."""
