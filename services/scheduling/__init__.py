"""Scheduling: capacity slots, bookings (hold → confirm → complete/cancel) and waitlists."""
