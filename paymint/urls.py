"""URL configuration: the dashboards, the versioned API and the admin back office."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.api import (
    EmailResendApi,
    EmailVerifyApi,
    KycDocumentCollectionApi,
    KycSubmitApi,
    LogoutApi,
    MeApi,
    PasswordResetApi,
    PasswordResetConfirmApi,
    TokenObtainApi,
    TokenOtpApi,
    TokenRefreshApi,
    TwoFactorApi,
    TwoFactorConfirmApi,
    UserRegisterApi,
)
from compliance.data_protection_api import MeDataExportApi, MeErasureRequestApi
from invoices.api import (
    DebtorConfirmationRequestApi,
    InvoiceCollectionApi,
    InvoiceDetailApi,
    InvoiceSubmitApi,
)
from invoices.debtor_views import debtor_confirm
from marketplace.api import (
    InvestmentCreateApi,
    InvestmentListApi,
    InvestmentStatementApi,
    InvoiceCancelApi,
    InvoiceListForFundingApi,
    ListingQuoteApi,
    MarketplaceDetailApi,
    MarketplaceListApi,
    MarketplaceStatsApi,
    PortfolioApi,
)
from notifications.api import (
    NotificationListApi,
    NotificationPreferencesApi,
    NotificationReadAllApi,
    NotificationReadApi,
    PushDeviceCollectionApi,
    PushDeviceDetailApi,
)
from notifications.stream import event_stream
from pools.api import (
    AutoInvestLogApi,
    AutoInvestRuleApi,
    PoolDepositApi,
    PoolDetailApi,
    PoolListApi,
    PoolNavHistoryApi,
    PoolPositionApi,
    PoolQuoteApi,
    PoolRedemptionApi,
    PoolRedemptionCollectionApi,
)
from settlements.api import (
    BankWebhookApi,
    SettlementDetailApi,
    SettlementListApi,
    WalletApi,
    WalletEntryListApi,
    WalletStatementCsvApi,
    WithdrawalCollectionApi,
)
from settlements.stellar.api import (
    Sep10ChallengeApi,
    Sep10LoginChallengeApi,
    Sep10TokenApi,
    Sep10VerifyApi,
)

api_v1 = [
    path("auth/register", UserRegisterApi.as_view(), name="register"),
    path("auth/token", TokenObtainApi.as_view(), name="token"),
    path("auth/token/otp", TokenOtpApi.as_view(), name="token-otp"),
    path("auth/email/verify", EmailVerifyApi.as_view(), name="email-verify"),
    path("auth/email/resend", EmailResendApi.as_view(), name="email-resend"),
    path("auth/password/reset", PasswordResetApi.as_view(), name="password-reset"),
    path("auth/password/reset/confirm", PasswordResetConfirmApi.as_view(),
         name="password-reset-confirm"),
    path("auth/token/refresh", TokenRefreshApi.as_view(), name="token-refresh"),
    path("auth/logout", LogoutApi.as_view(), name="logout"),
    path("me", MeApi.as_view(), name="me"),
    path("me/kyc", KycSubmitApi.as_view(), name="kyc-submit"),
    path("me/kyc/documents", KycDocumentCollectionApi.as_view(), name="kyc-documents"),
    path("me/two-factor", TwoFactorApi.as_view(), name="two-factor"),
    path("me/two-factor/confirm", TwoFactorConfirmApi.as_view(), name="two-factor-confirm"),
    path("me/export", MeDataExportApi.as_view(), name="me-export"),
    path("me/devices", PushDeviceCollectionApi.as_view(), name="devices"),
    path("me/devices/<str:device_id>", PushDeviceDetailApi.as_view(), name="device-detail"),
    path("me/notification-preferences", NotificationPreferencesApi.as_view(),
         name="notification-preferences"),
    path("me/erasure-request", MeErasureRequestApi.as_view(), name="me-erasure-request"),
    path("invoices", InvoiceCollectionApi.as_view(), name="invoices"),
    path("invoices/<str:invoice_id>", InvoiceDetailApi.as_view(), name="invoice-detail"),
    path("invoices/<str:invoice_id>/submit", InvoiceSubmitApi.as_view(), name="invoice-submit"),
    path("invoices/<str:invoice_id>/list", InvoiceListForFundingApi.as_view(),
         name="invoice-list"),
    path("invoices/<str:invoice_id>/cancel", InvoiceCancelApi.as_view(), name="invoice-cancel"),
    path("invoices/<str:invoice_id>/debtor-confirmation",
         DebtorConfirmationRequestApi.as_view(), name="invoice-debtor-confirmation"),
    path("marketplace", MarketplaceListApi.as_view(), name="marketplace"),
    path("marketplace/stats", MarketplaceStatsApi.as_view(), name="marketplace-stats"),
    path("portfolio", PortfolioApi.as_view(), name="portfolio"),
    path("marketplace/<str:listing_id>", MarketplaceDetailApi.as_view(),
         name="marketplace-detail"),
    path("marketplace/<str:listing_id>/quote", ListingQuoteApi.as_view(), name="listing-quote"),
    path("marketplace/<str:listing_id>/investments", InvestmentCreateApi.as_view(),
         name="investment-create"),
    path("investments", InvestmentListApi.as_view(), name="investments"),
    path("auto-invest", AutoInvestRuleApi.as_view(), name="auto-invest"),
    path("auto-invest/log", AutoInvestLogApi.as_view(), name="auto-invest-log"),
    path("pools", PoolListApi.as_view(), name="pools"),
    path("pools/<str:pool_id>", PoolDetailApi.as_view(), name="pool-detail"),
    path("pools/<str:pool_id>/nav-history", PoolNavHistoryApi.as_view(),
         name="pool-nav-history"),
    path("pools/<str:pool_id>/deposits", PoolDepositApi.as_view(), name="pool-deposits"),
    path("pools/<str:pool_id>/redemptions", PoolRedemptionCollectionApi.as_view(),
         name="pool-redemptions"),
    path("pools/<str:pool_id>/redemptions/<str:redemption_id>", PoolRedemptionApi.as_view(),
         name="pool-redemption"),
    path("pools/<str:pool_id>/position", PoolPositionApi.as_view(), name="pool-position"),
    path("pools/<str:pool_id>/quote", PoolQuoteApi.as_view(), name="pool-quote"),
    path("investments/<str:investment_id>", InvestmentStatementApi.as_view(),
         name="investment-statement"),
    path("events", event_stream, name="events"),
    path("notifications", NotificationListApi.as_view(), name="notifications"),
    path("notifications/read-all", NotificationReadAllApi.as_view(), name="notifications-read-all"),
    path("notifications/<str:notification_id>/read", NotificationReadApi.as_view(),
         name="notification-read"),
    path("wallet", WalletApi.as_view(), name="wallet"),
    path("wallet/withdrawals", WithdrawalCollectionApi.as_view(), name="withdrawals"),
    path("wallet/entries", WalletEntryListApi.as_view(), name="wallet-entries"),
    path("wallet/statement.csv", WalletStatementCsvApi.as_view(), name="wallet-statement"),
    path("settlements", SettlementListApi.as_view(), name="settlements"),
    path("settlements/<str:settlement_id>", SettlementDetailApi.as_view(),
         name="settlement-detail"),
    path("webhooks/bank", BankWebhookApi.as_view(), name="bank-webhook"),
    path("stellar/auth/challenge", Sep10ChallengeApi.as_view(), name="stellar-sep10-challenge"),
    path("stellar/auth/verify", Sep10VerifyApi.as_view(), name="stellar-sep10-verify"),
    path("stellar/auth/login/challenge", Sep10LoginChallengeApi.as_view(),
         name="stellar-sep10-login-challenge"),
    path("stellar/auth/login", Sep10TokenApi.as_view(), name="stellar-sep10-login"),
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    # The split view serves Swagger UI's start-up script as a file (no inline script: CSP).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-v1:schema"), name="docs"),
]

# The back office's name (the index itself: templates/admin/index.html, issue #13).
admin.site.site_header = "PayMint back office"
admin.site.site_title = "PayMint back office"
admin.site.index_title = "Today"

urlpatterns = [
    path(settings.ADMIN_URL, admin.site.urls),
    path("api/v1/", include((api_v1, "api-v1"))),
    path("debtor/confirm/<str:token>/", debtor_confirm, name="debtor-confirm"),
    path("", include("paymint.web_urls")),
]

# --- Operations: probes and metrics (no auth for probes; /metrics needs METRICS_TOKEN) ------
from paymint.core.health import healthz, readyz  # noqa: E402
from paymint.core.metrics import metrics_view  # noqa: E402

urlpatterns += [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
]

# --- Private files: uploads only through short-lived signed URLs (MEDIA_URL is never routed) --
from paymint.core.storage import private_file_download  # noqa: E402

urlpatterns += [
    path("files/<str:token>", private_file_download, name="private-file"),
]

# --- Content-Security-Policy violation reports (paymint/core/csp.py) ----------------------
from paymint.core.csp import csp_report  # noqa: E402

urlpatterns += [
    path(settings.CSP_REPORT_PATH.strip("/") + "/", csp_report, name="csp-report"),
]

# --- Errors: API paths get the JSON error body even when no route matches ------------------
handler404 = "paymint.core.api.not_found"
handler500 = "paymint.core.api.server_error"  # 503 + Retry-After when a dependency is down
