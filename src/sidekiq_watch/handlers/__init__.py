"""Lambda entry points only: parse the event, call domain code, shape the response."""
