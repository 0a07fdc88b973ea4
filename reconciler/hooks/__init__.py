"""Role-change notifications (desired/hooks.py): events, the notifier, the runner."""
