"""listing-tracker: follow a newly listed stock against its offer price."""

__version__ = "0.1.0"
