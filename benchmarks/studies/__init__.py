"""One module per study; each runs its measurements and returns a frozen result dataclass."""
