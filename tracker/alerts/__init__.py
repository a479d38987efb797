"""Alert records, their messages, and the sinks that deliver them."""
