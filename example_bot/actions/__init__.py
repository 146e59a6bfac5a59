"""Custom actions of the example bot (run them with `rasa run actions`)."""
