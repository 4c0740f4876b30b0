"""Widgets only: they show the model's state and send the person's intent to app-level wiring."""
