"""The demo: `manage.py demo` (see apps.DemoConfig)."""
