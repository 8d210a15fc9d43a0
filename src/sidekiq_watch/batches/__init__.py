"""Batch notifications: Sidekiq Pro batch callbacks fanned out to every configured channel, exactly once."""
