"""Dashboard URLs (server-rendered pages)."""

from django.urls import path

from accounts import views as accounts_views
from compliance import data_protection_views
from invoices import views as invoices_views
from marketplace import views as marketplace_views
from notifications import views as notifications_views
from pools import views as pools_views
from settlements import views as settlements_views

urlpatterns = [
    # Accounts and onboarding
    path("login/", accounts_views.login_view, name="login"),
    path("logout/", accounts_views.logout_view, name="logout"),
    path("signup/", accounts_views.signup, name="signup"),
    path("onboarding/", accounts_views.kyc, name="kyc"),
    path(
        "onboarding/documents/<uuid:document_id>/",
        accounts_views.kyc_document,
        name="kyc-document",
    ),
    path("login/code/", accounts_views.two_factor_verify, name="two-factor-verify"),
    path("account/security/", accounts_views.account_security, name="account-security"),
    path("account/data/", data_protection_views.data_privacy, name="data-privacy"),
    path("account/data/export.json", data_protection_views.data_export_download,
         name="data-export"),
    path("account/data/erasure/", data_protection_views.erasure_request, name="erasure-request"),
    path("account/two-factor/setup/", accounts_views.two_factor_setup, name="two-factor-setup"),
    path(
        "account/two-factor/disable/",
        accounts_views.two_factor_disable,
        name="two-factor-disable",
    ),
    path("verify-email/resend/", accounts_views.resend_verification, name="verify-email-resend"),
    path("verify-email/<str:token>/", accounts_views.verify_email, name="verify-email"),
    path("account/password/", accounts_views.password_change, name="password-change"),
    path("password-reset/", accounts_views.password_reset, name="password-reset"),
    path("password-reset/sent/", accounts_views.password_reset_done, name="password-reset-done"),
    path(
        "password-reset/<uidb64>/<token>/",
        accounts_views.password_reset_confirm,
        name="password-reset-confirm",
    ),
    path(
        "password-reset/done/",
        accounts_views.password_reset_complete,
        name="password-reset-complete",
    ),
    path("", accounts_views.dashboard, name="dashboard"),
    # Sellers
    path("seller/", invoices_views.seller_dashboard, name="seller-dashboard"),
    path("seller/invoices/upload/", invoices_views.invoice_upload_view, name="invoice-upload"),
    path(
        "seller/invoices/<uuid:invoice_id>/", invoices_views.seller_invoice, name="seller-invoice"
    ),
    path(
        "seller/invoices/<uuid:invoice_id>/document/",
        invoices_views.invoice_document,
        name="invoice-document",
    ),
    path(
        "seller/invoices/<uuid:invoice_id>/pages/<int:page>.png",
        invoices_views.invoice_page_image,
        name="invoice-page-image",
    ),
    # Investors and the marketplace
    path("investor/", marketplace_views.investor_dashboard, name="investor-dashboard"),
    path(
        "investor/investments/<uuid:investment_id>/",
        marketplace_views.investment_statement,
        name="investment-statement",
    ),
    path("investor/auto-invest/", pools_views.auto_invest_page, name="auto-invest"),
    path("pools/", pools_views.pools, name="pools"),
    path("pools/<uuid:pool_id>/", pools_views.pool_page, name="pool"),
    path("pools/<uuid:pool_id>/deposit/", pools_views.pool_deposit_page, name="pool-deposit"),
    path("pools/<uuid:pool_id>/redeem/", pools_views.pool_redeem_page, name="pool-redeem"),
    path(
        "pools/<uuid:pool_id>/redemptions/<uuid:redemption_id>/cancel/",
        pools_views.pool_redemption_cancel_page,
        name="pool-redemption-cancel",
    ),
    path("marketplace/", marketplace_views.marketplace, name="marketplace"),
    path("marketplace/<uuid:listing_id>/", marketplace_views.listing_detail, name="listing-detail"),
    path(
        "marketplace/<uuid:listing_id>/invest/",
        marketplace_views.listing_invest,
        name="listing-invest",
    ),
    # Notifications
    path("notifications/", notifications_views.notification_list_page, name="notifications"),
    path("notifications/preferences/", notifications_views.notification_preferences,
         name="notification-preferences"),
    path("notifications/bell/", notifications_views.notification_bell, name="notification-bell"),
    path("notifications/read-all/", notifications_views.notification_read_all,
         name="notifications-read-all"),
    path("notifications/<uuid:notification_id>/read/", notifications_views.notification_read,
         name="notification-read"),
    # Wallet
    path("wallet/", settlements_views.wallet, name="wallet"),
    path("wallet/withdraw/", settlements_views.withdrawal_new, name="withdraw"),
    path(
        "wallet/statement.csv", settlements_views.wallet_statement_csv, name="wallet-statement-csv"
    ),
]
