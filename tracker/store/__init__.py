"""Storage of ticks, alerts and rule state: the only package that imports SQLAlchemy."""

HEARTBEAT_MAX_AGE_S = 60.0  # a daemon beats every few seconds: older than this, it is gone
