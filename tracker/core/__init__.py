"""The pure core: listings, ticks, rules and the alert state machine. No I/O."""
