"""sidekiq-watch: a serverless watchdog for Sidekiq."""

__version__ = "0.1.0"
