"""``python -m bench``: authcore/authconsole measured side by side with raw-driver baselines."""
