"""The App manager: one FiftyOne App server per Tator project."""
