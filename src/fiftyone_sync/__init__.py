"""FiftyOne Sync for Tator: review Tator localizations in FiftyOne and push the fixes back."""

__version__ = "0.1.0"
