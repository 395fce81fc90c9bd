from django.apps import AppConfig


class DemoConfig(AppConfig):
    """``manage.py demo``: the invoice lifecycle on the embedded default, driven through the
    real services, the HTTP API and signed bank webhooks (``make demo``). The top of the
    layers: it may use every app; no app imports it."""

    name = "demo"
    verbose_name = "Demo"
