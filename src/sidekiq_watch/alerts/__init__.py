"""Rules turn a snapshot into findings; messages tell people about them."""
