"""FiftyOne to Tator: diff, plan and apply."""
