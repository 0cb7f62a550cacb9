"""pulsegate: a Segment-compatible ingestion gateway for customer-success data."""

__version__ = "0.1.0"
