"""An emulator of Fast-VSS, the embedding service."""
