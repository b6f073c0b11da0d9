"""Emulators of the outside services (Tator, Fast-VSS) for tests and the demo.

Production code never imports them.
"""
