"""Where ticks come from: recorded tapes and, later, live quote providers."""
