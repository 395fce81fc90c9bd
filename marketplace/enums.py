from django.db import models


class InvestmentStatus(models.TextChoices):
    ACTIVE = "ACTIVE", "Active"
    SETTLED = "SETTLED", "Settled"
    REFUNDED = "REFUNDED", "Refunded (listing cancelled)"
