"""An emulator of the part of Tator's REST API the product uses."""
