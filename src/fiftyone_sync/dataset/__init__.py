"""Tator to FiftyOne: mapping, sync state and the pull job."""
