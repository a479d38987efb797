"""The markets: exchange calendars, trading phases and the exchanges the tracker knows."""
