"""Import each room that wires itself into the container (one line per room)."""
