"""Embedded MongoDB and Redis for hosts without their own servers."""
