"""Population training: K members in lockstep, each with its own seed-derived randomness."""
