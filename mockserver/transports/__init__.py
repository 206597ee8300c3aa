"""Transports: they move events and audio between a client and a sans-I/O session."""
