"""Real host-network tests (marked real)."""
