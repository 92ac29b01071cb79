"""Sparklio Studio: the marketer's web app and REST API on top of the Dagster pipeline (`sparklio studio`)."""
