"""Emulators of the outside services, for tests and the demo; production code never imports them."""
