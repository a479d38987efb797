"""Storage of ticks, alerts and rule state: the only package that imports SQLAlchemy."""
