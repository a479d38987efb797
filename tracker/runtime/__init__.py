"""The runtime: one ingest path, replays, the live poller and daemon, the scheduler and clocks."""
